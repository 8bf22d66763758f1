// The saved state's format (state/state.json): what the daemon writes and every reader reads.
// Its own file, so the store, the daemon and the views depend on the format, not on each other.
import type { GpuInfo } from './schedule/gpus.js';
import type { JobRecord } from './job/job.js';
import type { CarriedUsage } from './schedule/penalty.js';
import type { ShareRow } from './slurm/sshare.js';

export interface DaemonInfo {
  pid: number;
  started_at: number;
  host: string;
  heartbeat_at: number;
  /** Whether the daemon can reach the Docker engine; since when not (ms), and why. */
  engine?: EngineStatus;
}

export interface EngineStatus {
  reachable: boolean;
  since: number | null;
  error: string | null;
}

export interface StateFile {
  version: 1;
  jobs: JobRecord[];
  gpus: GpuInfo[];
  daemon: DaemonInfo | null;
  /** Usage of jobs pruned from history, per user, so forgetting old jobs keeps penalties right. */
  carried_usage?: CarriedUsage[];
  /** `dopq usage reset`: per user (or `*` for all), usage before this time (ms) no longer counts. */
  usage_resets?: Record<string, number>;
  /** The highest job number whose record has left the state (aged out, cleared, capped): never taken again. */
  retired_up_to?: number;
  /** `dopq pause`: no job starts until `dopq resume`. */
  paused?: { by: string; at: number } | null;
  /** `backend: slurm`: Slurm's fair-share standing of each user (`sshare`), when the daemon last asked (ms). */
  slurm_shares?: { at: number; rows: ShareRow[] };
}

/** A job file in the intake that the daemon has not read yet (owner from the file's uid). */
export interface PendingJob {
  id: number;
  user: string;
  uid: number;
  submitted_at: number;
  name?: string;
  gpus_requested?: number;
  /** An array's file holds this many job numbers from `id` on (absent: one). */
  tasks?: number;
}
