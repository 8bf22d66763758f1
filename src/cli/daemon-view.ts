// `dopq q` on a long queue: the view the running daemon wrote after its last save
// (io/spool/queue-view-cache.ts), used only while it is a view of exactly what q would read now.
import { daemonAlive } from '../io/spool/daemon-lock.js';
import { readDaemonStatus } from '../io/spool/daemon-status.js';
import { pendingJobs } from '../io/spool/pending.js';
import { configPrint, readQueueViewCache, type CachedQueueView } from '../io/spool/queue-view-cache.js';
import { stateGeneration } from '../io/spool/state-store.js';
import type { CommandContext } from './context.js';

/**
 * The daemon's view, or undefined when q must build its own: no daemon alive (its last view says
 * it runs), jobs in the intake it has not read (the view lacks them), a state, status or config
 * other than the view's, or a view older than two rescans (the daemon is stuck in a pass).
 */
export async function daemonQueueView(ctx: CommandContext, now: number): Promise<CachedQueueView | undefined> {
  const [generation, alive, status, pending] = await Promise.all([
    stateGeneration(ctx.spool.state),
    daemonAlive(ctx.spool.daemonPid),
    readDaemonStatus(ctx.spool.daemonStatus),
    pendingJobs(ctx.spool.intake),
  ]);
  if (!generation || !alive || !status || pending.length > 0) return undefined;
  return readQueueViewCache(ctx.spool.queueView, {
    generation,
    config: configPrint(ctx.config),
    status,
    now,
    maxAgeMs: Math.max(5000, 2000 * ctx.config.rescan_interval),
  });
}
