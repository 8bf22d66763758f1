// The scheduler's input from the state file: the same for the daemon's pass and `dopq q`'s
// estimates, so what `q` predicts is what the daemon does.
import type { Config } from '../config/config.js';
import { freeGpuIds } from './gpus.js';
import { isFinished, type JobRecord } from '../job/job.js';
import { dependencyHolds } from '../job/dependencies.js';
import { stateUsage } from './penalty.js';
import { groupQueues, queueOrder, type QueuedJob } from './queue-order.js';
import type { StateFile } from '../state.js';
import { heldByUser, type SchedulerInput } from './scheduler.js';

export type SchedulingConfig = Pick<Config, 'policy' | 'penalty' | 'limits'>;

/** A queued job as the scheduler sees it. */
export function asQueued(
  job: Pick<JobRecord, 'id' | 'user' | 'gpus_requested' | 'submitted_at' | 'time_limit' | 'top_at'> & Partial<Pick<JobRecord, 'array'>>,
): QueuedJob {
  return {
    id: job.id,
    user: job.user,
    gpus: job.gpus_requested,
    submitted_at: job.submitted_at,
    time_limit: job.time_limit,
    ...(job.top_at !== undefined ? { top_at: job.top_at } : {}),
    ...(job.array && job.array.throttle !== null ? { array: { id: job.array.id, throttle: job.array.throttle } } : {}),
  };
}

/** Per array with a `%N` cap, when each running task ends at the latest (ms). */
export function arrayRunning(running: readonly JobRecord[], now: number): Map<number, number[]> {
  const ends = new Map<number, number[]>();
  for (const job of running) {
    if (!job.array || job.array.throttle === null) continue;
    const end = Math.max(now, (job.started_at ?? now) + job.time_limit * 1000);
    const list = ends.get(job.array.id);
    if (list) list.push(end);
    else ends.set(job.array.id, [end]);
  }
  return ends;
}

/** Owners of finished jobs that ran, newest first: DoPQ's history, after any usage reset. */
export function classicHistory(state: Pick<StateFile, 'jobs' | 'usage_resets'>, length: number): string[] {
  const resets = state.usage_resets ?? {};
  return state.jobs
    .filter(
      (job) =>
        isFinished(job) &&
        job.started_at !== undefined &&
        (job.finished_at ?? 0) > Math.max(resets[job.user] ?? -Infinity, resets['*'] ?? -Infinity),
    )
    .sort((a, b) => (b.finished_at ?? 0) - (a.finished_at ?? 0) || b.id - a.id)
    .slice(0, length)
    .map((job) => job.user);
}

export function schedulerInput(
  state: StateFile,
  config: SchedulingConfig,
  options: { now: number; shares: ReadonlyMap<string, number>; extraQueued?: readonly QueuedJob[] },
): SchedulerInput {
  const running = state.jobs.filter((job) => job.state === 'running');
  // A job whose image is not built yet cannot start; it keeps its place for when it is. One
  // waiting on other jobs (after:) is no candidate at all: nothing is reserved or estimated for it.
  const { waiting, failed } = dependencyHolds(state.jobs);
  const queued = [
    ...state.jobs
      .filter(
        (job) => job.state === 'queued' && !job.held_by && job.needs_image === undefined && !waiting.has(job.id) && !failed.has(job.id),
      )
      .map(asQueued),
    ...(options.extraQueued ?? []),
  ];
  const inventory = new Set(state.gpus.map((gpu) => gpu.id));
  return {
    policy: config.policy,
    now: options.now,
    free: freeGpuIds(state.gpus, running),
    // A job on a GPU a reload removed keeps it, and counts against its owner's cap, until it ends.
    retired: running.flatMap((job) => job.gpus.filter((gpu) => !inventory.has(gpu))),
    running: running
      .filter((job) => job.gpus.length > 0)
      .map((job) => ({
        id: job.id,
        user: job.user,
        gpus: job.gpus,
        ends_at: Math.max(options.now, (job.started_at ?? options.now) + job.time_limit * 1000),
      })),
    queues: groupQueues(queued),
    usage: config.policy === 'fairshare' ? stateUsage(state, options.now, config.penalty.half_life) : new Map(),
    shares: options.shares,
    running_weight: config.penalty.running_weight,
    history: config.policy === 'dopq-classic' ? classicHistory(state, config.penalty.classic_history) : [],
    classic_history: config.penalty.classic_history,
    max_gpus_per_user: config.limits.per_user.gpus,
    paused: Boolean(state.paused),
    array_running: arrayRunning(running, options.now),
  };
}

/**
 * Jobs whose image still has to be built or loaded, in the order the queue would start them:
 * builds go first to the jobs that will run first.
 */
export function buildOrder(
  state: StateFile,
  config: SchedulingConfig,
  options: { now: number; shares: ReadonlyMap<string, number> },
): number[] {
  const { waiting } = dependencyHolds(state.jobs);
  const unbuilt = state.jobs.filter((job) => job.state === 'queued' && job.needs_image !== undefined && !waiting.has(job.id));
  if (unbuilt.length === 0) return [];
  const input = schedulerInput(state, config, { ...options, extraQueued: unbuilt.map(asQueued) });
  const ids = new Set(unbuilt.map((job) => job.id));
  const order: number[] = [];
  for (const job of queueOrder({ ...input, held: heldByUser(input.running) })) {
    if (ids.has(job.id)) order.push(job.id);
    if (order.length === ids.size) break;
  }
  return order;
}
