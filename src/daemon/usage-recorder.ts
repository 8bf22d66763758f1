// The daemon's side of the web dashboard's 24 h charts: a point of the GPUs' utilization and each
// user's running GPUs appended every minute to state/usage-history.jsonl (one short line: far
// inside the 1 % of a core telemetry may cost), the file rewritten without old points hourly.
import { historyPoint, HISTORY_POINT_MS } from '../core/view/usage-history.js';
import { appendHistoryPoint, pruneHistory } from '../io/spool/usage-history.js';
import type { DaemonContext } from './context.js';
import type { GpuSource } from './gpu-source.js';

/** Rewrite the file without points older than the window this often (and once at start). */
const PRUNE_EVERY_MS = 3600 * 1000;

export class UsageRecorder {
  private prunedAt = 0;
  private busy = false;

  constructor(
    private readonly ctx: DaemonContext,
    private readonly gpus: GpuSource,
  ) {}

  static readonly intervalSeconds = HISTORY_POINT_MS / 1000;

  /** Appends one point (and prunes when due); a failure is logged and costs one point. */
  async record(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    const { ctx } = this;
    const now = ctx.now();
    try {
      if (now - this.prunedAt >= PRUNE_EVERY_MS) {
        this.prunedAt = now;
        await pruneHistory(ctx.spool.usageHistory, now);
      }
      await appendHistoryPoint(ctx.spool.usageHistory, historyPoint(now, this.gpus.current(), ctx.state.jobs));
    } catch (error) {
      ctx.log.error(`usage history: ${(error as Error).message}`);
    } finally {
      this.busy = false;
    }
  }
}
