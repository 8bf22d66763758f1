// Resource requests in the units the engine uses (Docker 20.10 HostConfig): NanoCpus, Memory and
// ShmSize are whole numbers where 0 means "no limit" or "the default", so every value a manifest
// or the config may give is checked here as the engine will see it, against the engine's minimum.
import * as z from 'zod';
import { formatSize, parseSize } from '../units.js';

/**
 * 0.01 CPUs. The engine turns NanoCpus into a CFS quota per 100 ms period (quota = nano / 1e4 µs)
 * and the kernel's least quota is 1 ms (sched-bwc); below 1e7 the quota rounds to nothing.
 */
export const MIN_NANO_CPUS = 10_000_000;
/** The engine refuses less: "Minimum memory limit allowed is 6MB" (linuxMinMemory, 6 MiB). */
export const MIN_MEMORY = 6 * 1024 ** 2;
/** ShmSize 0 is the engine's default (64m); under 1m /dev/shm holds nothing useful: a unit slip. */
export const MIN_SHM = 1024 ** 2;

/** What the container spec sets: whole nano CPUs. */
export function nanoCpus(cpus: number): number {
  return Math.round(cpus * 1e9);
}

/** Why `cpus` cannot be a CPU limit, or undefined when it can. */
export function cpusProblem(cpus: number): string | undefined {
  if (!Number.isFinite(cpus) || cpus <= 0) return 'must be more than 0';
  const nano = nanoCpus(cpus);
  if (nano < MIN_NANO_CPUS) return `at least ${MIN_NANO_CPUS / 1e9} CPUs (the engine's finest CPU limit), got ${cpus}`;
  if (!Number.isSafeInteger(nano)) return `at most ${Math.floor(Number.MAX_SAFE_INTEGER / 1e9)} CPUs, got ${cpus}`;
  return undefined;
}

export type SizeKind = 'memory' | 'shm';
const MINIMUM: Record<SizeKind, { bytes: number; why: string }> = {
  memory: { bytes: MIN_MEMORY, why: "the engine's minimum memory limit" },
  shm: { bytes: MIN_SHM, why: "less is a unit slip, and 0 is the engine's 64m default" },
};

/** A size as whole bytes at or above the kind's minimum, or the reason it is not one. */
export function resourceSize(kind: SizeKind, value: string | number): { bytes: number } | { problem: string } {
  const expected = { problem: `expected a size such as 512m or 32g for ${kind}` };
  if (typeof value !== 'string' && typeof value !== 'number') return expected;
  if (!isWholeBytes(value)) return { problem: 'must be a whole number of bytes (1.5k, not 1.1k)' };
  const bytes = parseSize(value);
  if (bytes === undefined) return expected;
  const minimum = MINIMUM[kind];
  if (bytes < minimum.bytes) return { problem: `at least ${formatSize(minimum.bytes)} (${minimum.why}), got ${formatSize(bytes)}` };
  return { bytes };
}

// Exact decimal arithmetic: `1.1g` is 1181116006.4 bytes, which parseSize would round.
function isWholeBytes(value: string | number): boolean {
  if (typeof value === 'number') return !(Number.isFinite(value) && value >= 0) || Number.isInteger(value);
  const match = /^\s*(\d+)(?:\.(\d+))?\s*([a-z]*)\s*$/i.exec(value);
  const factor = match ? parseSize(`1${match[3]}`) : undefined;
  if (!match || factor === undefined) return true; // not a size at all: parseSize says so
  const fraction = match[2] ?? '';
  const scale = 10n ** BigInt(fraction.length);
  return (BigInt(match[1]! + fraction) * BigInt(factor)) % scale === 0n;
}

/** A memory or shm field (manifest, config defaults and limits): checked as the engine will see it. */
export const sizeSchema = (kind: SizeKind) =>
  z.union([z.string(), z.number()], { error: `expected a size such as 512m or 32g for ${kind}` }).transform((value, ctx) => {
    const size = resourceSize(kind, value);
    if ('problem' in size) {
      ctx.addIssue({ code: 'custom', message: size.problem });
      return z.NEVER;
    }
    return size.bytes;
  });

/** A cpus field, at least the engine's smallest quota. */
export const cpusSchema = z.number({ error: 'expected a number of CPUs such as 4 or 0.5' }).superRefine((cpus, ctx) => {
  const problem = cpusProblem(cpus);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
