// Finished jobs leave the state file after history.keep (or at `dopq history clear`); their
// usage is carried over in a per-user sum so penalties stay right, and a compact accounting
// record of each is appended to state/accounting.jsonl for `dopq report`.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { isFinished } from '../../core/job/job.js';
import { carriedNow, penalties, usageFloor } from '../../core/schedule/penalty.js';
import { accountingRecordOf } from '../../core/report/accounting-record.js';
import { appendAccounting } from '../../io/spool/accounting-log.js';
import type { DaemonContext } from '../context.js';
import type { StateFile } from '../../core/state.js';

export function pruneHistory(ctx: DaemonContext): void {
  const gone = forgetFinished(ctx, ctx.now() - ctx.config.history.keep * 1000);
  if (gone > 0) ctx.log.info(`pruned ${gone} finished jobs older than ${ctx.config.history.keep}s`);
}

/** Drops finished jobs that ended before `cutoff` (ms), with their logs; returns how many. */
export function forgetFinished(ctx: DaemonContext, cutoff: number): number {
  const now = ctx.now();
  const old = ctx.state.jobs.filter((job) => isFinished(job) && (job.finished_at ?? now) < cutoff);
  if (old.length === 0) return 0;
  try {
    appendAccounting(ctx.spool.accounting, old.map(accountingRecordOf));
  } catch (error) {
    // Kept in the state until their accounting records are on disk: nothing is lost, only pruned later.
    ctx.log.error(`finished jobs kept: cannot append to ${ctx.spool.accounting}: ${(error as Error).message}`);
    return 0;
  }
  const floor = usageFloor(ctx.state.usage_resets);
  const halfLife = ctx.config.penalty.half_life;
  const carried = new Map(
    (ctx.state.carried_usage ?? []).filter((c) => c.at > floor(c.user)).map((c) => [c.user, carriedNow(c, now, halfLife)]),
  );
  for (const [user, value] of penalties(old, now, halfLife, floor)) carried.set(user, (carried.get(user) ?? 0) + value);
  ctx.state.carried_usage = [...carried].map(([user, gpu_seconds]) => ({ user, gpu_seconds, at: now }));
  const gone = new Set(old.map((job) => job.id));
  ctx.state.jobs = ctx.state.jobs.filter((job) => !gone.has(job.id));
  retireIds(ctx.state, gone);
  for (const id of gone) {
    ctx.specs.delete(id);
    void rm(path.join(ctx.spool.jobs, `${id}.json`), { force: true });
    void rm(path.join(ctx.spool.logs, `${id}.log`), { force: true });
    void rm(path.join(ctx.spool.logs, `${id}.log.times`), { force: true });
    void rm(path.join(ctx.spool.rejected, `${id}.job`), { force: true });
    void rm(path.join(ctx.spool.builds, `${id}.tar`), { force: true });
    void rm(path.join(ctx.spool.logs, `${id}.build.log`), { force: true });
  }
  return gone.size;
}

/** Records of these ids left the state: the numbers are never taken again (intake.ts). */
export function retireIds(state: StateFile, ids: Iterable<number>): void {
  for (const id of ids) state.retired_up_to = Math.max(state.retired_up_to ?? 0, id);
}
