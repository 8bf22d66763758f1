// `dopq rm ID...`: the owner or an admin cancels. Checked here for a clear answer at once, and
// again by the daemon, which acts on the request file (so rm works while no daemon runs).
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { DopqError, ExitCode, NotFoundError, PermissionError } from '../../core/errors.js';
import { isFinished } from '../../core/job.js';
import { canControl } from '../../core/permissions.js';
import { assertSpoolReady, INTAKE_SUFFIX } from '../../io/spool.js';
import { readState } from '../../io/state-store.js';
import { currentCaller, userName } from '../../io/users.js';
import { reportError } from '../program.js';
import type { CommandContext } from '../context.js';
import { parseJobIds } from './job-control.js';
import { sendRequest } from '../requests.js';

export async function rmCommand(ctx: CommandContext, rawIds: string[]): Promise<number> {
  const ids = parseJobIds(rawIds);
  await assertSpoolReady(ctx.spool);
  const [state, caller] = await Promise.all([readState(ctx.spool.state), currentCaller()]);
  const toRequest: number[] = [];
  const failures: number[] = [];
  for (const id of ids) {
    try {
      const job = state.jobs.find((j) => j.id === id);
      if (job) {
        if (!canControl(job, caller, ctx.config.admins)) {
          throw new PermissionError(`job ${id}`, `belongs to ${job.user}; only its owner or an admin may cancel it`);
        }
        if (isFinished(job)) throw new DopqError('finished', ExitCode.partial, `already finished (${job.state})`, `job ${id}`);
        toRequest.push(id);
        ctx.io.out(`${id}: ${job.state === 'running' ? 'stopping' : 'cancelling'}\n`);
        continue;
      }
      await withdrawFromIntake(ctx, id, caller.uid);
      ctx.io.out(`${id}: removed\n`);
    } catch (error) {
      failures.push(reportError(error, ctx.io, false));
    }
  }
  if (toRequest.length > 0) await requestCancel(ctx, toRequest);
  if (failures.length === 0) return ExitCode.ok;
  return failures.length === ids.length ? failures[0]! : ExitCode.partial;
}

/** A job the daemon has not read yet is still its owner's file: deleting it withdraws the job. */
async function withdrawFromIntake(ctx: CommandContext, id: number, uid: number): Promise<void> {
  const file = path.join(ctx.spool.intake, `${id}${INTAKE_SUFFIX}`);
  let owner: number;
  try {
    owner = (await stat(file)).uid;
  } catch {
    throw new NotFoundError(`job ${id}`, 'no such job');
  }
  if (owner !== uid && uid !== 0) {
    throw new PermissionError(`job ${id}`, `belongs to ${await userName(owner)}; only its owner or an admin may cancel it`);
  }
  try {
    await rm(file);
  } catch (error) {
    // The daemon took it in meanwhile (or an admin lacks rights on the sticky folder): ask it instead.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    await requestCancel(ctx, [id]);
  }
}

function requestCancel(ctx: CommandContext, ids: number[]): Promise<void> {
  return sendRequest(ctx, { op: 'rm', ids });
}
