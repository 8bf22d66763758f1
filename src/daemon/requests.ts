// Control requests users drop into requests/ (`dopq rm`). The requester is the file's owner as
// the kernel reports it; the permission check is made here again, whatever the CLI decided.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { decodeRequest } from '../core/envelope.js';
import { cancelQueued } from '../core/job.js';
import { canControl } from '../core/permissions.js';
import { readOwnedFile, UnsafeFileError } from '../io/safe-read.js';
import { listDropped, REQUEST_SUFFIX } from '../io/spool.js';
import { callerOf } from '../io/users.js';
import { jobById, replaceJob, type DaemonContext } from './context.js';

export interface RequestOutcome {
  consumed: string[];
  /** Running jobs whose containers must now be stopped as cancelled. */
  toStop: number[];
}

export async function handleRequests(ctx: DaemonContext): Promise<RequestOutcome> {
  const outcome: RequestOutcome = { consumed: [], toStop: [] };
  for (const name of await listDropped(ctx.spool.requests, REQUEST_SUFFIX)) {
    const file = path.join(ctx.spool.requests, name);
    let owned;
    try {
      owned = await readOwnedFile(file, 64 * 1024);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      if (error instanceof UnsafeFileError) {
        ctx.log.error(`dropped request ${name}: ${error.message}`);
        await rm(file, { force: true });
        continue;
      }
      ctx.log.error(`cannot read request ${name}: ${(error as Error).message}`);
      continue;
    }
    outcome.consumed.push(file);
    const request = decodeRequest(owned.text);
    if ('error' in request) {
      ctx.log.error(`ignored request ${name}: ${request.error}`);
      continue;
    }
    const caller = await callerOf(owned.uid);
    for (const id of request.ids) {
      const job = jobById(ctx, id);
      if (!job) continue; // still in the intake: its owner withdraws it by deleting the file
      if (!canControl(job, caller, ctx.config.admins)) {
        ctx.log.error(`refused rm by ${caller.user}: not the owner (${job.user}) nor an admin`, id);
        continue;
      }
      if (job.state === 'queued') {
        replaceJob(ctx, cancelQueued(job, caller.user, ctx.now()));
        ctx.log.info(`cancelled by ${caller.user} while queued`, id);
      } else if (job.state === 'running' && job.stopping !== 'cancelled') {
        replaceJob(ctx, { ...job, stopping: 'cancelled', stop_requested_at: ctx.now(), message: `cancelled by ${caller.user}` });
        outcome.toStop.push(id);
        ctx.log.info(`cancelling (requested by ${caller.user})`, id);
      }
    }
  }
  return outcome;
}
