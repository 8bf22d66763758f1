// A job as the state file records it, its states, and the transitions between them.
import type { Manifest } from './manifest.js';

/** `building`: its image is being built or loaded; it waits in the queue meanwhile, holding no GPU. */
export type JobState = 'queued' | 'building' | 'running' | 'done' | 'failed' | 'cancelled' | 'rejected';

/** Why a job left the queue or the GPUs. `exited` covers both done (exit 0) and failed (non-zero). */
export type EndReason = 'exited' | 'cancelled' | 'time-limit' | 'oom-killed' | 'start-failed' | 'build-failed' | 'rejected' | 'lost' | 'foreign-image' | 'mount-denied';

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
  stopping?: 'cancelled' | 'time-limit';
  stop_requested_at?: number;
}

/** What the daemon keeps privately per job (0600): the whole manifest, env included. */
export interface JobSpec {
  id: number;
  uid: number;
  user: string;
  manifest: Manifest;
  /** The image the container runs: the manifest's, or the one dopq builds or loads for the job. */
  image: string;
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
  const state: JobState = reason === 'cancelled' ? 'cancelled' : reason === 'exited' && exit.exitCode === 0 ? 'done' : 'failed';
  const message =
    reason === 'time-limit'
      ? `stopped after its time limit of ${job.time_limit}s`
      : reason === 'oom-killed'
        ? 'killed by the kernel: out of memory (raise memory: in the manifest)'
        : exit.error
          ? `the engine reported an error for the container; it is in dopq log ${job.id}`
          : job.message;
  const { stopping: _stopping, stop_requested_at: _at, ...rest } = job;
  return { ...rest, state, reason, exit_code: exit.exitCode, finished_at: Math.max(exit.finishedAt, job.started_at ?? 0), ...(message ? { message } : {}) };
}

export function failToStart(job: JobRecord, message: string, now: number): JobRecord {
  return { ...job, state: 'failed', reason: 'start-failed', message, gpus: [], exit_code: null, finished_at: now };
}

/** A job dopq refused at its start or build (another user's image, a mount its owner cannot reach). */
export function refuseJob(job: JobRecord, reason: 'foreign-image' | 'mount-denied', message: string, now: number): JobRecord {
  const { stopping: _s, stop_requested_at: _a, build_started_at: _b, needs_image: _n, ...rest } = job;
  return { ...rest, state: 'rejected', reason, message, gpus: [], exit_code: null, finished_at: now };
}

export function cancelQueued(job: JobRecord, by: string, now: number): JobRecord {
  return { ...job, state: 'cancelled', reason: 'cancelled', message: `cancelled by ${by}`, finished_at: now };
}
