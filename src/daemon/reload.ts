// Reading the config again while the daemon runs (SIGHUP, `systemctl reload`, `dopq reload`):
// the same file, the same ownership checks and the same loader as at start. A config that
// fails any of them is refused whole and the running one stays; a valid one replaces it from
// the next pass, except the keys below, which keep their running value until a restart.
import { isDeepStrictEqual } from 'node:util';
import type { Config } from '../core/config/config.js';
import { fitHost } from '../core/config/fit-host.js';
import { DopqError, InvalidDocumentError } from '../core/errors.js';
import { loadConfig } from '../io/files/config-file.js';
import type { ReloadStatus } from '../io/spool/daemon-status.js';
import { spoolProblems } from '../io/spool/spool.js';
import type { DaemonContext } from './context.js';
import { createGpuSource, type GpuSource } from './gpu-source.js';

/**
 * What the daemon cannot change under itself: the spool (its lock, its paths, the label that marks
 * its containers) and the engine's socket (the connection is made once, at start).
 */
export const RESTART_ONLY_KEYS = ['spool', 'docker.socket', 'metrics', 'web', 'backend'] as const;

/** Fields of a parsed config that no key of the file sets (config.ts, fit-host.ts). */
const DERIVED = ['resources_set', 'host'];

/** A reload that can be applied: the new config (restart-only keys as they run now), and what changed. */
export interface ReloadPlan {
  config: Config;
  /** Dotted keys whose value changes now. */
  changed: string[];
  /** Restart-only keys whose new value waits for a restart. */
  pendingRestart: string[];
  /** A new GPU inventory, when `gpus` or `nvidia_smi` changed. */
  gpus?: GpuSource;
}

export type ReloadResult = { ok: true; plan: ReloadPlan } | { ok: false; errors: string[] };

/** Read, check and compare the config file the daemon started with; changes nothing. */
export async function prepareReload(ctx: DaemonContext): Promise<ReloadResult> {
  const running = ctx.config;
  try {
    // As at start: a config (or a folder above it) that others could write is not obeyed.
    const problems = await spoolProblems(ctx.spool, running.file);
    if (problems.length > 0) return { ok: false, errors: problems.map((p) => `${p.path}: ${p.problem}`) };
    // Fitted to the host the daemon measured at start, as the config it replaces was: built-in
    // defaults lowered, the host a limit (fit-host.ts).
    const read = await loadConfig(running.file);
    const fitted = running.host ? fitHost(read, running.host) : undefined;
    for (const note of fitted?.notes ?? []) ctx.log.info(`config: ${note.message}`);
    const loaded = fitted?.config ?? read;
    const pendingRestart = RESTART_ONLY_KEYS.filter((key) => !isDeepStrictEqual(valueAt(loaded, key), valueAt(running, key)));
    const config: Config = {
      ...loaded,
      spool: running.spool,
      backend: running.backend,
      docker: { ...loaded.docker, socket: running.docker.socket },
      metrics: running.metrics,
      web: running.web,
    };
    // Only keys a config file holds: where the file sets them and the host it was fitted to are
    // bookkeeping that a rewritten file moves without changing anything.
    const changed = changedKeys(running, config).filter((key) => !DERIVED.some((field) => key === field || key.startsWith(`${field}.`)));
    const plan: ReloadPlan = { config, changed, pendingRestart };
    if (changed.some((key) => key === 'gpus' || key.startsWith('gpus.') || key === 'nvidia_smi')) {
      // nvidia-smi that fails now refuses the reload, as it refuses a start: no silent zero-GPU daemon.
      plan.gpus = await createGpuSource(config);
    }
    return { ok: true, plan };
  } catch (error) {
    return { ok: false, errors: reloadErrors(error, running.file) };
  }
}

/** Each problem on a line of its own, naming the file (and the field and line, as the loader gives them). */
function reloadErrors(error: unknown, file: string): string[] {
  // `line 5: limits.cpus: ...`, one issue a line: each gets the file's name.
  if (error instanceof InvalidDocumentError) return error.message.split('\n').map((line) => `${file}: ${line}`);
  if (error instanceof DopqError) return [`${error.subject ?? file}: ${error.message.replaceAll('\n', '; ')}`];
  return [`${file}: ${(error as Error).message ?? String(error)}`];
}

/** The dotted keys whose values differ, down to the leaves of plain objects (lists compare whole). */
export function changedKeys(before: object, after: object, prefix = ''): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  const changed: string[] = [];
  for (const key of keys) {
    const a = (before as Record<string, unknown>)[key];
    const b = (after as Record<string, unknown>)[key];
    const dotted = prefix ? `${prefix}.${key}` : key;
    if (isDeepStrictEqual(a, b)) continue;
    if (isPlainObject(a) && isPlainObject(b)) changed.push(...changedKeys(a, b, dotted));
    else changed.push(dotted);
  }
  return changed;
}

const isPlainObject = (value: unknown): value is object => typeof value === 'object' && value !== null && !Array.isArray(value);

function valueAt(config: Config, dotted: string): unknown {
  return dotted
    .split('.')
    .reduce<unknown>((node, key) => (isPlainObject(node) ? (node as Record<string, unknown>)[key] : undefined), config);
}

/** The answer a reload leaves in the status file (`dopq reload` waits for its token there). */
export function reloadStatus(result: ReloadResult, requests: readonly { by: string; token: string | null }[], at: number): ReloadStatus {
  const by = [...new Set(requests.map((request) => request.by))].join(', ');
  const tokens = requests.flatMap((request) => (request.token === null ? [] : [request.token]));
  if (!result.ok) return { at, by, tokens, applied: false, changed: [], pending_restart: [], errors: result.errors };
  return { at, by, tokens, applied: true, changed: result.plan.changed, pending_restart: result.plan.pendingRestart, errors: [] };
}

/** What the daemon logs: one line, and for a refusal one more line per error (journald keeps each whole). */
export function describeReload(status: ReloadStatus, file: string): string[] {
  if (!status.applied)
    return [`config reload (${status.by}) refused; the running config stays in force:`, ...status.errors.map((error) => `  ${error}`)];
  const changed = status.changed.length === 0 ? 'nothing changed' : `changed ${status.changed.join(', ')}`;
  const waiting =
    status.pending_restart.length === 0 ? '' : `; changed but not applied until a restart: ${status.pending_restart.join(', ')}`;
  return [`config reloaded (${status.by}) from ${file}: ${changed}${waiting}`];
}
