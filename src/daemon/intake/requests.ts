// Control requests users drop into requests/ (`dopq rm`, `hold`, `pause`, ...). The requester is
// the file's owner as the kernel reports it; permissions are checked here again, whatever the
// CLI decided.
import path from 'node:path';
import { decodeRequest, type ControlRequest, type JobOp } from '../../core/job/envelope.js';
import { cancelQueued } from '../../core/job/job.js';
import { isAdmin, mayActOnJob, type Caller } from '../../core/permissions.js';
import { readOwnedFile, UnsafeFileError } from '../../io/files/safe-read.js';
import { discardEntry, listDropped, REQUEST_SUFFIX } from '../../io/spool/spool.js';
import { callerOf, userName } from '../../io/host/users.js';
import { jobById, replaceJob, type DaemonContext } from '../context.js';
import { forgetFinished } from '../jobs/history.js';
import { RefusalSummary } from './refusal-summary.js';

export interface RequestOutcome {
  consumed: string[];
  /** Running jobs whose containers must now be stopped as cancelled. */
  toStop: number[];
  /** Set when an admin asked the daemon to exit: who. */
  shutdownBy: string | null;
  /** Admins who asked the daemon to read its config again, with their requests' tokens. */
  reloads: { by: string; token: string }[];
}

/** `daemonSince`: when this daemon started (ms); an older shutdown request was meant for another. */
export async function handleRequests(ctx: DaemonContext, daemonSince: number | null): Promise<RequestOutcome> {
  const outcome: RequestOutcome = { consumed: [], toStop: [], shutdownBy: null, reloads: [] };
  const refusals = new RefusalSummary('refused or ignored requests');
  for (const name of (await listDropped(ctx.spool.requests, REQUEST_SUFFIX)).sort()) {
    // One entry at a time, each on its own: whatever lies there, the others are still handled.
    try {
      await handleRequestFile(ctx, name, daemonSince, outcome, refusals);
    } catch (error) {
      noteOnce(ctx, `request ${name}`, `cannot handle request ${name}: ${(error as Error).message}; skipping it`);
    }
  }
  refusals.flush(ctx);
  return outcome;
}

async function handleRequestFile(
  ctx: DaemonContext,
  name: string,
  daemonSince: number | null,
  outcome: RequestOutcome,
  refusals: RefusalSummary,
): Promise<void> {
  const file = path.join(ctx.spool.requests, name);
  let owned;
  try {
    owned = await readOwnedFile(file, 64 * 1024);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    if (!(error instanceof UnsafeFileError)) throw error;
    // A folder, link, FIFO or device: never read; removed, or moved to rejected/ (a folder).
    const done = await discardEntry(file, ctx.spool.rejected);
    const where = done === 'moved' ? ' (moved to rejected/)' : '';
    refusals.add(await userName(error.uid ?? 0), `dropped request ${name}: ${error.message}${where}`);
    return;
  }
  outcome.consumed.push(file);
  const request = decodeRequest(owned.text);
  if ('error' in request) {
    refusals.add(await userName(owned.uid), `ignored request ${name}: ${request.error}`);
    return;
  }
  const caller = await callerOf(owned.uid);
  if ('ids' in request) {
    // A request may name one job many times; acting once is enough, and refusing once too.
    for (const id of new Set(request.ids)) applyJobOp(ctx, request.op, id, request.at, caller, outcome, refusals);
  } else if (!isAdmin(caller, ctx.config.admins)) {
    refusals.add(caller.user, `refused ${request.op} by ${caller.user}: admins only`);
  } else {
    applyAdminOp(ctx, request, caller, daemonSince, outcome);
  }
}

const noted = new WeakMap<DaemonContext, Set<string>>();

/** Log `message` about `key` once per daemon, not on every pass that meets it again. */
export function noteOnce(ctx: DaemonContext, key: string, message: string): void {
  let keys = noted.get(ctx);
  if (!keys) noted.set(ctx, (keys = new Set()));
  if (keys.has(key)) return;
  if (keys.size > 10_000) keys.clear();
  keys.add(key);
  ctx.log.error(message);
}

function applyJobOp(
  ctx: DaemonContext,
  op: JobOp,
  id: number,
  at: number,
  caller: Caller,
  outcome: RequestOutcome,
  refusals: RefusalSummary,
): void {
  const job = jobById(ctx, id);
  if (!job) return; // still in the intake: its owner withdraws it by deleting the file
  // Asked of an earlier job with this number, withdrawn unread (`dopq rm`) before this one was pushed.
  if (at < job.submitted_at) return;
  if (!mayActOnJob(op, job, caller, ctx.config.admins)) {
    refusals.add(caller.user, `refused ${op} by ${caller.user}: not the owner (${job.user}) nor an admin`, id);
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
    refusals.add(caller.user, `ignored ${op} by ${caller.user}: the job is ${job.state}`, id);
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

function applyAdminOp(
  ctx: DaemonContext,
  request: Exclude<ControlRequest, { ids: number[] }>,
  caller: Caller,
  daemonSince: number | null,
  outcome: RequestOutcome,
): void {
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
      ctx.log.info(
        `history cleared by ${caller.user}: ${gone} finished jobs${request.before === null ? '' : ` before ${new Date(request.before).toISOString()}`}`,
      );
      return;
    }
    case 'shutdown':
      if (daemonSince === null || request.at < daemonSince) {
        ctx.log.info(`ignored a shutdown request by ${caller.user} from before this daemon started`);
        return;
      }
      outcome.shutdownBy = caller.user;
      return;
    case 'reload':
      // An older request was answered by the config this daemon read when it started.
      if (daemonSince !== null && request.at >= daemonSince) outcome.reloads.push({ by: caller.user, token: request.token });
  }
}
