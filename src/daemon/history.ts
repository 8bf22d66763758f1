// Finished jobs older than history.keep leave the state file; their usage is carried over in a
// per-user sum so penalties stay right.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { isFinished } from '../core/job.js';
import { carriedNow, penalties } from '../core/penalty.js';
import type { DaemonContext } from './context.js';

export function pruneHistory(ctx: DaemonContext): void {
  const now = ctx.now();
  const cutoff = now - ctx.config.history.keep * 1000;
  const old = ctx.state.jobs.filter((job) => isFinished(job) && (job.finished_at ?? now) < cutoff);
  if (old.length === 0) return;
  const carried = new Map((ctx.state.carried_usage ?? []).map((c) => [c.user, carriedNow(c, now, ctx.config.penalty.half_life)]));
  for (const [user, value] of penalties(old, now, ctx.config.penalty.half_life)) carried.set(user, (carried.get(user) ?? 0) + value);
  ctx.state.carried_usage = [...carried].map(([user, gpu_seconds]) => ({ user, gpu_seconds, at: now }));
  const gone = new Set(old.map((job) => job.id));
  ctx.state.jobs = ctx.state.jobs.filter((job) => !gone.has(job.id));
  for (const id of gone) {
    ctx.specs.delete(id);
    void rm(path.join(ctx.spool.jobs, `${id}.json`), { force: true });
    void rm(path.join(ctx.spool.logs, `${id}.log`), { force: true });
  }
  ctx.log.info(`pruned ${gone.size} finished jobs older than ${ctx.config.history.keep}s`);
}
