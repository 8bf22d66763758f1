// `dopq wait ID...`: block until the jobs end, then exit with the outcome (core/job/wait-code.ts):
// one job, its own code; several, the highest. `waitForJobs` is the waiting itself, for any
// command that waits (`push --wait`). It wakes when the daemon writes the state or someone the
// intake (inotify), else every few seconds, and reads the state only when the file changed.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { DopqError, ExitCode } from '../../core/errors.js';
import { isFinished, type JobRecord } from '../../core/job/job.js';
import type { JobRef } from '../../core/job/job-ref.js';
import { combinedWaitCode, WaitCode, waitCode } from '../../core/job/wait-code.js';
import { assertSpoolReady } from '../../io/spool/spool.js';
import { readState } from '../../io/spool/state-store.js';
import type { CommandContext, Output } from '../context.js';
import { intakeNumbers, knownJobs, noSuchJob, resolve } from '../job-targets.js';
import { watchFolders } from '../spool-watch.js';

/** How often the state is looked at when no change woke the waiter (events can be missed, e.g. on NFS). */
export const WAIT_POLL_MS = 2000;

export interface WaitOptions {
  /** Print one JSON object when all have ended, rather than a line per job as each ends. */
  json?: boolean;
}

/** How a job ended, as `wait --json` prints it. */
export interface WaitedJob {
  id: number;
  state: string;
  reason: string | null;
  exit_code: number | null;
  /** The status `dopq wait` gives for this job alone. */
  wait_code: number;
}

/** `refs` as commander parsed them; each must name a job known now (else 66, before any waiting). */
export async function waitCommand(ctx: CommandContext, refs: readonly JobRef[], options: WaitOptions = {}): Promise<number> {
  await assertSpoolReady(ctx.spool);
  const resolved = resolve(refs, await knownJobs(ctx));
  const missing = resolved.find((r) => r.ids.length === 0);
  if (missing) throw noSuchJob(missing.ref);
  const ids = [...new Set(resolved.flatMap((r) => r.ids))].sort((a, b) => a - b);
  return waitForJobs(ctx, ids, ctx.io, options);
}

/**
 * Wait until every job of `ids` has ended; the exit status for them all (0 when all are done).
 * A job the daemon has not read yet is waited for too; one whose file left the intake without
 * being read (withdrawn by `dopq rm`) counts as cancelled. Each end is said on `io` as it comes
 * (`17: failed (exit 3)`), or, with `json`, all at once at the end.
 */
export async function waitForJobs(ctx: CommandContext, ids: readonly number[], io: Output, options: WaitOptions = {}): Promise<number> {
  const remaining = new Set(ids);
  const ended = new Map<number, WaitedJob>();
  const watch = watchFolders([ctx.spool.intake, path.dirname(ctx.spool.state)]);
  let seen: string | undefined;
  let jobs = new Map<number, JobRecord>();
  try {
    for (;;) {
      // The intake first: the daemon saves a job's record before it removes the file, so a job
      // in neither was withdrawn, not missed between the two reads.
      const inIntake = await intakeIds(ctx.spool.intake);
      const version = await stateVersion(ctx.spool.state);
      if (version !== seen) {
        jobs = new Map((await readState(ctx.spool.state)).jobs.map((job) => [job.id, job]));
        seen = version;
      }
      for (const id of [...remaining]) {
        const job = jobs.get(id);
        let outcome: WaitedJob | undefined;
        if (job && isFinished(job)) {
          outcome = { id, state: job.state, reason: job.reason ?? null, exit_code: job.exit_code ?? null, wait_code: waitCode(job)! };
        } else if (!job && !inIntake.has(id)) {
          outcome = { id, state: 'cancelled', reason: 'withdrawn', exit_code: null, wait_code: WaitCode.cancelled };
        }
        if (!outcome) continue;
        remaining.delete(id);
        ended.set(id, outcome);
        if (!options.json) io.out(`${describe(outcome)}\n`);
      }
      if (remaining.size === 0) break;
      await watch.next(WAIT_POLL_MS);
    }
  } finally {
    watch.close();
  }
  const code = combinedWaitCode([...ended.values()].map((job) => job.wait_code));
  if (options.json) io.out(`${JSON.stringify({ exit_code: code, jobs: ids.map((id) => ended.get(id)!) })}\n`);
  return code;
}

/** `17: done`, `17: failed (exit 3)`, `17: cancelled (withdrawn)`. */
function describe(job: WaitedJob): string {
  const detail = [
    ...(job.reason && job.reason !== 'exited' && job.reason !== job.state ? [job.reason] : []),
    ...(job.exit_code !== null && job.state !== 'done' ? [`exit ${job.exit_code}`] : []),
  ];
  return `${job.id}: ${job.state}${detail.length > 0 ? ` (${detail.join(', ')})` : ''}`;
}

/** The job numbers the intake's files hold; a spool without an intake is a config error. */
async function intakeIds(intake: string): Promise<Set<number>> {
  return intakeNumbers(intake).catch((error: NodeJS.ErrnoException) => {
    throw new DopqError('no-spool', ExitCode.config, `cannot list the intake (${error.code ?? error.message})`, intake);
  });
}

/** What changes whenever the daemon replaces the state (it writes a new file and renames it). */
async function stateVersion(file: string): Promise<string> {
  const info = await stat(file).catch(() => undefined);
  return info ? `${info.ino}:${info.size}:${info.mtimeMs}` : 'none';
}
