// Control requests users drop into requests/ (`dopq rm`, `hold`, `pause`, ...). The requester is
// the file's owner as the kernel reports it; permissions are checked here again, whatever the
// CLI decided.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { decodeRequest, type ControlRequest, type JobOp } from '../core/envelope.js';
import { cancelQueued } from '../core/job.js';
import { isAdmin, mayActOnJob, type Caller } from '../core/permissions.js';
import { readOwnedFile, UnsafeFileError } from '../io/safe-read.js';
import { listDropped, REQUEST_SUFFIX } from '../io/spool.js';
import { callerOf } from '../io/users.js';
import { jobById, replaceJob, type DaemonContext } from './context.js';
import { forgetFinished } from './history.js';

export interface RequestOutcome {
  consumed: string[];
  /** Running jobs whose containers must now be stopped as cancelled. */
  toStop: number[];
  /** Set when an admin asked the daemon to exit: who. */
  shutdownBy: string | null;
}

/** `daemonSince`: when this daemon started (ms); an older shutdown request was meant for another. */
export async function handleRequests(ctx: DaemonContext, daemonSince: number | null): Promise<RequestOutcome> {
  const outcome: RequestOutcome = { consumed: [], toStop: [], shutdownBy: null };
  for (const name of (await listDropped(ctx.spool.requests, REQUEST_SUFFIX)).sort()) {
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
    if ('ids' in request) {
      for (const id of request.ids) applyJobOp(ctx, request.op, id, caller, outcome);
    } else if (!isAdmin(caller, ctx.config.admins)) {
      ctx.log.error(`refused ${request.op} by ${caller.user}: admins only`);
    } else {
      applyAdminOp(ctx, request, caller, daemonSince, outcome);
    }
  }
  return outcome;
}

function applyJobOp(ctx: DaemonContext, op: JobOp, id: number, caller: Caller, outcome: RequestOutcome): void {
  const job = jobById(ctx, id);
  if (!job) return; // still in the intake: its owner withdraws it by deleting the file
  if (!mayActOnJob(op, job, caller, ctx.config.admins)) {
    ctx.log.error(`refused ${op} by ${caller.user}: not the owner (${job.user}) nor an admin`, id);
    return;
  }
  const now = ctx.now();
  if (op === 'rm') {
    if (job.state === 'queued' || job.state === 'building') {
      replaceJob(ctx, cancelQueued(job, caller.user, now));
      ctx.log.info(`cancelled by ${caller.user} while queued`, id);
    } else if (job.state === 'running' && job.stopping !== 'cancelled') {
      replaceJob(ctx, { ...job, stopping: 'cancelled', stop_requested_at: now, message: `cancelled by ${caller.user}` });
      outcome.toStop.push(id);
      ctx.log.info(`cancelling (requested by ${caller.user})`, id);
    }
    return;
  }
  if (job.state !== 'queued') {
    ctx.log.error(`ignored ${op} by ${caller.user}: the job is ${job.state}`, id);
    return;
  }
  if (op === 'hold') {
    replaceJob(ctx, { ...job, held_by: caller.user });
    ctx.log.info(`held by ${caller.user}`, id);
  } else if (op === 'release') {
    const { held_by: _held, ...released } = job;
    replaceJob(ctx, released);
    ctx.log.info(`released by ${caller.user}`, id);
  } else {
    replaceJob(ctx, { ...job, top_at: now });
    ctx.log.info(`moved ahead of ${job.user}'s other jobs by ${caller.user}`, id);
  }
}

function applyAdminOp(ctx: DaemonContext, request: Exclude<ControlRequest, { ids: number[] }>, caller: Caller, daemonSince: number | null, outcome: RequestOutcome): void {
  const now = ctx.now();
  switch (request.op) {
    case 'pause':
      ctx.state.paused = { by: caller.user, at: now };
      ctx.log.info(`paused by ${caller.user}: no new jobs start; running ones continue`);
      return;
    case 'resume':
      ctx.state.paused = null;
      ctx.log.info(`resumed by ${caller.user}`);
      return;
    case 'usage-reset': {
      const who = request.user ?? '*';
      ctx.state.usage_resets = request.user === null ? { '*': now } : { ...ctx.state.usage_resets, [who]: now };
      ctx.state.carried_usage = (ctx.state.carried_usage ?? []).filter((c) => request.user !== null && c.user !== request.user);
      ctx.log.info(`usage of ${request.user ?? 'every user'} reset by ${caller.user}`);
      return;
    }
    case 'history-clear': {
      const gone = forgetFinished(ctx, request.before ?? now + 1);
      ctx.log.info(`history cleared by ${caller.user}: ${gone} finished jobs${request.before === null ? '' : ` before ${new Date(request.before).toISOString()}`}`);
      return;
    }
    case 'shutdown':
      if (daemonSince === null || request.at < daemonSince) {
        ctx.log.info(`ignored a shutdown request by ${caller.user} from before this daemon started`);
        return;
      }
      outcome.shutdownBy = caller.user;
  }
}
