// `dopq rm ID...`: the owner or an admin cancels. Checked here for a clear answer at once, and
// again by the daemon, which acts on the request file (so rm works while no daemon runs).
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { DopqError, ExitCode, NotFoundError, PermissionError } from '../../core/errors.js';
import { isFinished } from '../../core/job/job.js';
import { mayActOnJob } from '../../core/permissions.js';
import { pendingJobs } from '../../io/spool/pending.js';
import { assertSpoolReady, CONTEXT_SUFFIX } from '../../io/spool/spool.js';
import { intakeJobName } from '../../core/job/job-ids.js';
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
  const toWithdraw: number[] = [];
  const code = await forEachId(ids, ctx.io, (id) => {
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
    if (!job && (caller.uid === owner.uid || caller.uid === 0)) toWithdraw.push(id);
    else {
      toRequest.push(id);
      ctx.io.out(`${id}: ${job?.state === 'running' ? 'stopping' : 'cancelling'}\n`);
    }
  });
  // Asked of the daemon even for files about to be deleted, and before: one it is reading at
  // this moment is cancelled all the same, and a job that later takes a freed number was pushed
  // after this request, so the daemon spares it (requests.ts). Deleting needs no request, so a
  // spool that takes no new file (a full disk) still lets owners withdraw their files.
  if (toRequest.length + toWithdraw.length > 0) {
    await requestCancel(ctx, [...toRequest, ...toWithdraw]).catch((error: unknown) => {
      if (toRequest.length > 0) throw error;
    });
  }
  for (const id of toWithdraw) {
    // An array not read yet is one file holding all its tasks' numbers.
    const name = intakeJobName(id, id + (pending.find((p) => p.id === id)?.tasks ?? 1) - 1);
    const withdrawn = await withdrawFromIntake(ctx, id, name).catch(() => false);
    ctx.io.out(`${id}: ${withdrawn ? 'removed' : 'cancelling'}\n`);
  }
  return code;
}

/**
 * Delete the job's intake file (and the build context push packed with it); false when the
 * daemon took it in meanwhile (then ask it). Requests made for it before stay behind, but the
 * daemon applies none to a later job that takes its number (it was pushed after them).
 */
async function withdrawFromIntake(ctx: CommandContext, id: number, name: string): Promise<boolean> {
  try {
    await rm(path.join(ctx.spool.intake, name));
    await rm(path.join(ctx.spool.intake, `${id}${CONTEXT_SUFFIX}`), { force: true });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return false;
  }
}

function requestCancel(ctx: CommandContext, ids: number[]): Promise<void> {
  return sendRequest(ctx, { op: 'rm', ids });
}
