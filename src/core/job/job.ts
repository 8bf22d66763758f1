// A job as the state file records it, its states, and the transitions between them.
import type { ArrayTask } from './array-spec.js';
import type { Manifest } from './manifest.js';
import { summarize, type Usage, type UsageSummary, type UsageTotals } from './usage.js';

/** `building`: its image is being built or loaded; it waits in the queue meanwhile, holding no GPU. */
export type JobState = 'queued' | 'building' | 'running' | 'done' | 'failed' | 'cancelled' | 'rejected';

/** Why a job left the queue or the GPUs. `exited` covers both done (exit 0) and failed (non-zero). */
export type EndReason =
  | 'exited'
  | 'cancelled'
  | 'time-limit'
  | 'oom-killed'
  | 'start-failed'
  | 'build-failed'
  | 'rejected'
  | 'lost'
  | 'foreign-image'
  | 'mount-denied'
  | 'engine-restart'
  | 'exceeds-host'
  | 'dependency-failed'
  | 'idle-gpus';

export const FINISHED_STATES: readonly JobState[] = ['done', 'failed', 'cancelled', 'rejected'];

export interface JobRecord {
  id: number;
  user: string;
  uid: number;
  name: string;
  image: string;
  gpus_requested: number;
  /** Host GPU ids held while running (UUIDs in `auto` mode, the configured ids otherwise). */
  gpus: string[];
  state: JobState;
  submitted_at: number; // ms since epoch, as everywhere in state
  started_at?: number;
  finished_at?: number;
  exit_code?: number | null;
  reason?: EndReason;
  /**
   * Human detail, shown to every user: dopq's own words (the validation issues, who cancelled),
   * never Docker's error text or build output, which can quote the job's command or secrets.
   */
  message?: string;
  time_limit: number; // seconds
  container_id?: string;
  /** `dopq hold`: keeps its place in the queue but does not start until released. */
  held_by?: string;
  /** Set while the job's image still has to be built (`build:`) or loaded (`image_archive:`). */
  needs_image?: 'build' | 'load';
  /** When its current build or load began (ms). */
  build_started_at?: number;
  /** `dopq top` (ms): the latest topped job goes first among its owner's queued jobs. */
  top_at?: number;
  /** Set when dopq asked the container to stop; the exit is then recorded with this reason. */
  stopping?: StopReason;
  stop_requested_at?: number;
  /** Which run this is: 2 after an engine restart killed the first and dopq queued it again. Absent: 1. */
  attempt?: number;
  /** When the engine that runs its container started (ms): a later engine means a restart. */
  engine_started_at?: number;
  /** Starts in a row that failed for the engine's or host's fault (never the job's). */
  start_failures?: number;
  /** `requeue: false` in the manifest: an engine restart fails it rather than running it again. */
  no_requeue?: true;
  /** A task of a job array (`array:`); absent for a plain job. */
  array?: ArrayTask;
  /** Start after these jobs ended `done` (an array's id: all its tasks); absent: none. */
  after?: number[];
  /** Start after these jobs ended, whatever the outcome; absent: none. */
  after_any?: number[];
  /** `interactive: true` (`dopq shell`): its container has a terminal that `dopq attach` reaches. */
  interactive?: true;
  /** The latest usage sample of a running job (`telemetry.interval`). */
  usage?: Usage;
  /** Sums over its samples, for the summary it keeps when it ends. */
  usage_totals?: UsageTotals;
  /** Since when (ms) all its GPUs are under `idle.threshold`. */
  idle_since?: number;
  /** Its GPUs stayed under `idle.threshold` for `idle.after`. */
  idle?: true;
  /** A finished job's usage, mean and peak. */
  usage_summary?: UsageSummary;
  /** `backend: slurm`: Slurm's job id, once sbatch answered. */
  slurm_job_id?: number;
  /**
   * `backend: slurm`: when the daemon set out to run sbatch, saved before it runs (write-ahead).
   * Found without `slurm_job_id`, Slurm is asked for the job by name before it is submitted again.
   */
  slurm_submit_at?: number;
  /** `backend: slurm`: what Slurm said of the job at the daemon's last look. */
  slurm?: SlurmStatus;
}

/** What Slurm says of a job: its state word, where it runs, why it waits, its priority, its expected start (ms). */
export interface SlurmStatus {
  state: string;
  node: string | null;
  reason: string | null;
  priority: number | null;
  start_estimate: number | null;
}

/** Why dopq asked a running job's container to stop. */
export type StopReason = 'cancelled' | 'time-limit' | 'idle-gpus';

/** What the daemon keeps privately per job (0600): the whole manifest, env included. */
export interface JobSpec {
  id: number;
  uid: number;
  user: string;
  manifest: Manifest;
  /** The image the container runs: the manifest's, or the one dopq builds or loads for the job. */
  image: string;
  /** The task this job is of its array (its environment says which). */
  array?: ArrayTask;
}

export { jobImageTag } from './image-names.js';

export function isFinished(job: Pick<JobRecord, 'state'>): boolean {
  return FINISHED_STATES.includes(job.state);
}

export interface ContainerExit {
  exitCode: number | null;
  oomKilled: boolean;
  finishedAt: number;
  error?: string;
}

/** The record of a running job once its container has exited. */
export function finishJob(job: JobRecord, exit: ContainerExit): JobRecord {
  const reason: EndReason = job.stopping ?? (exit.oomKilled ? 'oom-killed' : 'exited');
  const state: JobState =
    reason === 'cancelled' || reason === 'idle-gpus' ? 'cancelled' : reason === 'exited' && exit.exitCode === 0 ? 'done' : 'failed';
  const message =
    reason === 'time-limit'
      ? `stopped after its time limit of ${job.time_limit}s`
      : reason === 'idle-gpus'
        ? 'cancelled: its GPUs stayed idle (idle.cancel_after)'
        : reason === 'oom-killed'
          ? 'killed by the kernel: out of memory (raise memory: in the manifest)'
          : exit.error
            ? `the engine reported an error for the container; it is in dopq log ${job.id}`
            : job.message;
  const { stopping: _stopping, stop_requested_at: _at, ...running } = job;
  const rest = withoutLiveUsage(running);
  const summary = summarize(job.usage_totals);
  return {
    ...rest,
    ...(summary ? { usage_summary: summary } : {}),
    state,
    reason,
    exit_code: exit.exitCode,
    finished_at: Math.max(exit.finishedAt, job.started_at ?? 0),
    ...(message ? { message } : {}),
  };
}

export function failToStart(job: JobRecord, message: string, now: number): JobRecord {
  return { ...withoutLiveUsage(job), state: 'failed', reason: 'start-failed', message, gpus: [], exit_code: null, finished_at: now };
}

/** A job dopq refused at its start or build (another user's image, a mount its owner cannot reach). */
export function refuseJob(job: JobRecord, reason: 'foreign-image' | 'mount-denied', message: string, now: number): JobRecord {
  const { stopping: _s, stop_requested_at: _a, build_started_at: _b, needs_image: _n, ...rest } = job;
  return { ...rest, state: 'rejected', reason, message, gpus: [], exit_code: null, finished_at: now };
}

/**
 * An engine restart killed the job's container: it waits again for its turn as attempt N+1,
 * holding no GPU, or, when it asked not to be run twice, fails with reason engine-restart.
 */
export function afterEngineRestart(job: JobRecord, requeue: boolean, exit: ContainerExit, _now: number): JobRecord {
  const { started_at: _s, container_id: _c, engine_started_at: _e, stopping: _st, stop_requested_at: _sa, ...rest } = withoutLiveUsage(job);
  const attempt = (job.attempt ?? 1) + 1;
  if (!requeue) {
    return {
      ...withoutLiveUsage(job),
      state: 'failed',
      reason: 'engine-restart',
      message: 'an engine restart killed its container; not run again (requeue: false)',
      exit_code: exit.exitCode,
      gpus: [],
      finished_at: Math.max(exit.finishedAt, job.started_at ?? 0),
    };
  }
  return {
    ...rest,
    state: 'queued',
    gpus: [],
    attempt,
    message: `queued again: an engine restart killed its container (attempt ${attempt})`,
  };
}

/** A start that failed for the engine's or host's fault: queued again, or held after `retries` in a row. */
export function afterHostFault(job: JobRecord, message: string, retries: number): JobRecord {
  const { started_at: _s, container_id: _c, engine_started_at: _e, ...rest } = job;
  const failures = (job.start_failures ?? 0) + 1;
  const queued = { ...rest, state: 'queued' as const, gpus: [], start_failures: failures };
  if (failures < retries) return { ...queued, message: `could not start (${failures} of ${retries} tries): ${message}` };
  return {
    ...queued,
    held_by: 'dopq',
    message: `held after ${failures} failed starts in a row, none its own fault: ${message}; an admin fixes the cause, then dopq release`,
  };
}

/** A job waiting on one that ended other than `done`: it never runs. */
export function cancelForDependency(job: JobRecord, on: number, state: JobState, now: number): JobRecord {
  return {
    ...job,
    state: 'cancelled',
    reason: 'dependency-failed',
    message: `job ${on}, which it runs after, ended ${state}`,
    finished_at: now,
  };
}

export function cancelQueued(job: JobRecord, by: string, now: number): JobRecord {
  return { ...job, state: 'cancelled', reason: 'cancelled', message: `cancelled by ${by}`, finished_at: now };
}

/** A job that leaves the GPUs keeps no live sample, no running sums and no idle mark. */
export function withoutLiveUsage<T extends Partial<JobRecord>>(job: T): Omit<T, 'usage' | 'usage_totals' | 'idle_since' | 'idle'> {
  const { usage: _u, usage_totals: _t, idle_since: _s, idle: _i, ...rest } = job;
  return rest;
}
