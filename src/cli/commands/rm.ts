// `dopq rm ID...`: the owner or an admin cancels. Checked here for a clear answer at once, and
// again by the daemon, which acts on the request file (so rm works while no daemon runs).
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { DopqError, ExitCode, NotFoundError, PermissionError } from '../../core/errors.js';
import { isFinished } from '../../core/job/job.js';
import { mayActOnJob } from '../../core/permissions.js';
import { pendingJobs } from '../../io/spool/pending.js';
import { assertSpoolReady, INTAKE_SUFFIX } from '../../io/spool/spool.js';
import { readState } from '../../io/spool/state-store.js';
import { currentCaller } from '../../io/host/users.js';
import { forEachId } from '../report.js';
import type { CommandContext } from '../context.js';
import { sendRequest } from '../requests.js';

/** `ids`: job ids, checked as commander parsed them (cli/args.ts). */
export async function rmCommand(ctx: CommandContext, ids: readonly number[]): Promise<number> {
  await assertSpoolReady(ctx.spool);
  const [state, pending, caller] = await Promise.all([readState(ctx.spool.state), pendingJobs(ctx.spool.intake), currentCaller()]);
  const toRequest: number[] = [];
  const code = await forEachId(ids, ctx.io, async (id) => {
    const job = state.jobs.find((j) => j.id === id);
    const waiting = job ? undefined : pending.find((p) => p.id === id);
    if (!job && !waiting) throw new NotFoundError(`job ${id}`, 'no such job');
    const owner = (job ?? waiting)!;
    if (!mayActOnJob('rm', owner, caller, ctx.config.admins)) {
      throw new PermissionError(`job ${id}`, `belongs to ${owner.user}; only its owner or an admin may cancel it`);
    }
    if (job && isFinished(job)) throw new DopqError('finished', ExitCode.partial, `already finished (${job.state})`, `job ${id}`);
    // Not read by the daemon yet: its owner (or root) withdraws it by deleting the file. An
    // admin cannot delete another's file in the sticky intake: the daemon cancels it instead.
    if (!job && (caller.uid === owner.uid || caller.uid === 0) && (await withdrawFromIntake(ctx, id))) {
      ctx.io.out(`${id}: removed\n`);
      return;
    }
    toRequest.push(id);
    ctx.io.out(`${id}: ${job?.state === 'running' ? 'stopping' : 'cancelling'}\n`);
  });
  if (toRequest.length > 0) await requestCancel(ctx, toRequest);
  return code;
}

/** Delete the job's intake file; false when the daemon took it in meanwhile (then ask it). */
async function withdrawFromIntake(ctx: CommandContext, id: number): Promise<boolean> {
  try {
    await rm(path.join(ctx.spool.intake, `${id}${INTAKE_SUFFIX}`));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return false;
  }
}

function requestCancel(ctx: CommandContext, ids: number[]): Promise<void> {
  return sendRequest(ctx, { op: 'rm', ids });
}
