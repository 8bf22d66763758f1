// `dopq hold|release|top ID...`: the owner or an admin changes how a queued job waits. Checked
// here for a clear answer at once, and again by the daemon, which applies the request.
import { DopqError, ExitCode, NotFoundError, PermissionError } from '../../core/errors.js';
import type { JobRecord } from '../../core/job/job.js';
import { mayActOnJob } from '../../core/permissions.js';
import { pendingJobs } from '../../io/spool/pending.js';
import { assertSpoolReady } from '../../io/spool/spool.js';
import { readState } from '../../io/spool/state-store.js';
import { currentCaller } from '../../io/host/users.js';
import type { CommandContext } from '../context.js';
import { forEachId } from '../report.js';
import { sendRequest } from '../requests.js';

export type QueueOp = 'hold' | 'release' | 'top';

const DONE: Record<QueueOp, string> = { hold: 'held', release: 'released', top: "moved ahead of its owner's other jobs" };
const VERB: Record<QueueOp, string> = { hold: 'hold', release: 'release', top: 'move' };

/** `ids`: job ids, checked as commander parsed them (cli/args.ts). */
export async function jobControlCommand(ctx: CommandContext, op: QueueOp, ids: readonly number[]): Promise<number> {
  await assertSpoolReady(ctx.spool);
  const [state, pending, caller] = await Promise.all([readState(ctx.spool.state), pendingJobs(ctx.spool.intake), currentCaller()]);
  const accepted: number[] = [];
  const code = await forEachId(ids, ctx.io, (id) => {
    // A job still in the intake is queued as far as its owner is concerned; the daemon reads
    // the intake before requests, and applies requests in the order they were made, so a
    // release after a hold of such a job undoes it, though no hold shows yet.
    const read = state.jobs.find((j) => j.id === id);
    const job: Pick<JobRecord, 'uid' | 'user' | 'state' | 'held_by'> | undefined =
      read ?? pending.filter((p) => p.id === id).map((p) => ({ uid: p.uid, user: p.user, state: 'queued' as const }))[0];
    if (!job) throw new NotFoundError(`job ${id}`, 'no such job');
    if (!mayActOnJob(op, job, caller, ctx.config.admins)) {
      throw new PermissionError(`job ${id}`, `belongs to ${job.user}; only its owner or an admin may ${VERB[op]} it`);
    }
    if (job.state !== 'queued')
      throw new DopqError(
        'not-queued',
        ExitCode.partial,
        `is ${job.state}; only queued jobs can be ${op === 'top' ? 'moved' : DONE[op]}`,
        `job ${id}`,
      );
    if (op === 'release' && read && !read.held_by) throw new DopqError('not-held', ExitCode.partial, 'is not held', `job ${id}`);
    accepted.push(id);
    ctx.io.out(`${id}: ${DONE[op]}\n`);
  });
  if (accepted.length > 0) await sendRequest(ctx, { op, ids: accepted });
  return code;
}
