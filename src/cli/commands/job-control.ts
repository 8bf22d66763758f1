// `dopq hold|release|top ID...`: the owner or an admin changes how a queued job waits. Checked
// here for a clear answer at once, and again by the daemon, which applies the request.
import { DopqError, ExitCode, PermissionError } from '../../core/errors.js';
import type { JobRef } from '../../core/job/job-ref.js';
import { mayActOnJob } from '../../core/permissions.js';
import { assertSpoolReady } from '../../io/spool/spool.js';
import type { CommandContext } from '../context.js';
import { isBulk, jobSubject, knownJobsAndCaller, noSuchJob, resolve, type KnownJob } from '../job-targets.js';
import { forEachId, reportError } from '../report.js';
import { sendRequest } from '../requests.js';

export type QueueOp = 'hold' | 'release' | 'top';

const DONE: Record<QueueOp, string> = { hold: 'held', release: 'released', top: "moved ahead of its owner's other jobs" };
const VERB: Record<QueueOp, string> = { hold: 'hold', release: 'release', top: 'move' };

/**
 * `refs` as commander parsed them (cli/args.ts). A job named by its id or task must be queued
 * (and held, to release); an array's id or a range acts on those of its jobs that can be, quietly
 * passing over the rest (running or finished tasks), but never over another user's job.
 */
export async function jobControlCommand(ctx: CommandContext, op: QueueOp, refs: readonly JobRef[]): Promise<number> {
  await assertSpoolReady(ctx.spool);
  const known = await knownJobsAndCaller(ctx);
  const eligible = (job: KnownJob) => job.state === 'queued' && (op !== 'release' || !job.ingested || Boolean(job.held_by));
  const targets: { job?: KnownJob; ref: JobRef }[] = [];
  let missing = 0;
  for (const resolved of resolve(refs, known)) {
    if (resolved.ids.length === 0) {
      missing += 1;
      reportError(noSuchJob(resolved.ref), ctx.io);
      continue;
    }
    const jobs = resolved.ids.map((id) => known.byId.get(id)!);
    for (const job of isBulk(resolved) ? jobs.filter(eligible) : jobs) targets.push({ job, ref: resolved.ref });
  }
  const accepted: number[] = [];
  const code = await forEachId(
    targets.map((_, i) => i),
    ctx.io,
    (i) => {
      // A job still in the intake is queued as far as its owner is concerned; the daemon reads
      // the intake before requests, and applies requests in the order they were made, so a
      // release after a hold of such a job undoes it, though no hold shows yet.
      const job = targets[i]!.job!;
      if (!mayActOnJob(op, job, known.caller, ctx.config.admins)) {
        throw new PermissionError(jobSubject(job), `belongs to ${job.user}; only its owner or an admin may ${VERB[op]} it`);
      }
      if (job.state !== 'queued')
        throw new DopqError(
          'not-queued',
          ExitCode.partial,
          `is ${job.state}; only queued jobs can be ${op === 'top' ? 'moved' : DONE[op]}`,
          jobSubject(job),
        );
      if (op === 'release' && job.ingested && !job.held_by)
        throw new DopqError('not-held', ExitCode.partial, 'is not held', jobSubject(job));
      accepted.push(job.id);
      ctx.io.out(`${job.id}: ${DONE[op]}\n`);
    },
  );
  if (accepted.length > 0) await sendRequest(ctx, { op, ids: accepted });
  if (missing === 0) return code;
  if (targets.length === 0) return missing === refs.length ? ExitCode.noSuchJob : ExitCode.partial;
  return ExitCode.partial;
}
