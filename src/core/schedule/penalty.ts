// Per-user penalty: GPU-seconds of finished and running work, each second decayed with a
// half-life, so recent use weighs most and old use fades.
import type { JobRecord } from '../job/job.js';

/**
 * Decayed GPU-seconds of `gpus` GPUs used from `start` to `end` (ms), seen at `now` (ms):
 * the integral of gpus * 2^(-(now - t) / h) dt over [start, end], in seconds.
 */
export function decayedGpuSeconds(gpus: number, start: number, end: number, now: number, halfLifeSeconds: number): number {
  if (gpus <= 0 || end <= start) return 0;
  const from = Math.max(0, (now - end) / 1000);
  const to = Math.max(0, (now - start) / 1000);
  if (!(halfLifeSeconds > 0) || !Number.isFinite(halfLifeSeconds)) return gpus * (to - from);
  const k = Math.LN2 / halfLifeSeconds;
  // exp(-k·from) − exp(-k·to), written with expm1 so long half-lives keep their precision.
  return (gpus * Math.exp(-k * from) * -Math.expm1(-k * (to - from))) / k;
}

type UsageJob = Pick<JobRecord, 'user' | 'gpus' | 'started_at' | 'finished_at' | 'state'>;

/** When each user's counted usage begins (`dopq usage reset`): their own reset or everyone's. */
export type UsageFloor = (user: string) => number;
const noFloor: UsageFloor = () => -Infinity;

export function usageFloor(resets: Readonly<Record<string, number>> | undefined): UsageFloor {
  if (!resets || Object.keys(resets).length === 0) return noFloor;
  return (user) => Math.max(resets[user] ?? -Infinity, resets['*'] ?? -Infinity);
}

/** Decayed GPU-seconds per user. Users without usage are absent (0). */
export function penalties(
  jobs: Iterable<UsageJob>,
  now: number,
  halfLifeSeconds: number,
  floor: UsageFloor = noFloor,
): Map<string, number> {
  const result = new Map<string, number>();
  for (const job of jobs) {
    if (job.started_at === undefined || job.gpus.length === 0) continue;
    const end = job.state === 'running' ? now : (job.finished_at ?? now);
    const value = decayedGpuSeconds(job.gpus.length, Math.max(job.started_at, floor(job.user)), Math.min(end, now), now, halfLifeSeconds);
    if (value > 0) result.set(job.user, (result.get(job.user) ?? 0) + value);
  }
  return result;
}

export interface CarriedUsage {
  user: string;
  /** Decayed GPU-seconds as of `at` (ms). */
  gpu_seconds: number;
  at: number;
}

/** Decayed GPU-seconds per user: the jobs still in the state plus the usage carried over from pruned ones. */
export function stateUsage(
  state: { jobs: readonly UsageJob[]; carried_usage?: readonly CarriedUsage[]; usage_resets?: Readonly<Record<string, number>> },
  now: number,
  halfLifeSeconds: number,
): Map<string, number> {
  const floor = usageFloor(state.usage_resets);
  const result = penalties(state.jobs, now, halfLifeSeconds, floor);
  for (const carried of state.carried_usage ?? []) {
    if (carried.at <= floor(carried.user)) continue;
    result.set(carried.user, (result.get(carried.user) ?? 0) + carriedNow(carried, now, halfLifeSeconds));
  }
  return result;
}

/** Carried usage decayed from when it was recorded to `now`. */
export function carriedNow(carried: CarriedUsage, now: number, halfLifeSeconds: number): number {
  return carried.gpu_seconds * Math.pow(2, -Math.max(0, now - carried.at) / 1000 / halfLifeSeconds);
}
