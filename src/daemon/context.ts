// What every part of the daemon shares: config, spool paths, the engine, the clock, the log, and
// the in-memory state that the daemon alone writes back to the spool. The config is replaced
// whole by a reload (reload.ts), between passes: read `ctx.config` where it is used, never keep it.
import { createHash } from 'node:crypto';
import type { Config } from '../core/config/config.js';
import type { ImageRecord } from '../core/job/image-ownership.js';
import type { EngineHealth } from '../core/engine-faults.js';
import type { JobRecord, JobSpec } from '../core/job/job.js';
import { endEventType, jobEvent, type JobEvent } from '../core/job/job-events.js';
import type { StateFile } from '../core/state.js';
import type { DockerEngine } from '../io/docker/engine.js';
import type { ReloadStatus } from '../io/spool/daemon-status.js';
import type { SpoolPaths } from '../io/spool/spool.js';

export interface Logger {
  info(message: string, jobId?: number): void;
  error(message: string, jobId?: number): void;
}

export interface DaemonContext {
  /** Swapped by a reload between passes; `spool` and `docker.socket` keep their values from start. */
  config: Config;
  spool: SpoolPaths;
  engine: DockerEngine;
  /** Label value that marks this spool's containers, so daemons of other spools leave them be. */
  instance: string;
  now: () => number;
  log: Logger;
  state: StateFile;
  specs: Map<number, JobSpec>;
  /** Which image IDs dopq built or loaded for whom (spool.images): ownership is decided on this. */
  images: ImageRecord;
  /** Whether the engine is reachable, its outages and start time. */
  health: EngineHealth;
  /**
   * Containers whose outcome is recorded in memory: removed only once the state holding that
   * outcome is on disk, so no crash can leave a job whose container is gone and outcome unknown.
   */
  removals: Set<string>;
  /** Containers being removed now (the engine takes a moment): not leftovers to remove again. */
  removing: Set<string>;
  /** Jobs whose container died by a signal nobody explained yet, since when (ms). */
  suspects: Map<number, number>;
  /** Intake files already in the state in memory, deleted once that state is on disk. */
  unsaved: Set<string>;
  /** The job-number floor last written to seq/seq: pushes take numbers above it. */
  idFloor: number;
  /** What the last config reload did (the status file shows it to `q` and `dopq reload`). */
  reload: ReloadStatus | null;
  /** Where job events go (notify/notifier.ts's notifyJobEvent in the daemon); unset: nowhere. */
  onJobEvent?: (event: JobEvent) => void;
  /** The last finished pass: when it ended (ms) and how long it took; saved in the status file for `dopq metrics`. */
  lastPass?: { at: number; ms: number };
}

export function instanceId(spoolRealPath: string): string {
  return createHash('sha256').update(spoolRealPath).digest('hex').slice(0, 10);
}

export function stderrLogger(stream: NodeJS.WritableStream = process.stderr): Logger {
  const line = (level: string, message: string, jobId?: number) =>
    stream.write(`${new Date().toISOString()} ${level}${jobId === undefined ? '' : ` [job ${jobId}]`} ${message}\n`);
  return { info: (m, id) => line('info', m, id), error: (m, id) => line('error', m, id) };
}

export function jobById(ctx: DaemonContext, id: number): JobRecord | undefined {
  return ctx.state.jobs.find((job) => job.id === id);
}

export function replaceJob(ctx: DaemonContext, job: JobRecord): void {
  const index = ctx.state.jobs.findIndex((j) => j.id === job.id);
  // Every outcome is recorded here: the owner hears of it once, when the state changes.
  const ended = endEventType(index >= 0 ? ctx.state.jobs[index] : undefined, job);
  if (ended && ctx.onJobEvent) ctx.onJobEvent(jobEvent(ended, job));
  if (index >= 0) ctx.state.jobs[index] = job;
  else ctx.state.jobs.push(job);
}
