// `dopq metrics`: the queue in Prometheus' text format, printed once, or served on /metrics
// (`--serve`, which the daemon starts as an unprivileged child when `metrics.listen` is set).
import { DopqError, ExitCode } from '../../core/errors.js';
import { queueMetrics } from '../../core/metrics/queue-metrics.js';
import { renderExposition } from '../../core/metrics/prometheus-text.js';
import { readDaemonStatus } from '../../io/spool/daemon-status.js';
import type { CommandContext } from '../context.js';
import { buildView, requireSpool } from './q.js';

export interface MetricsOptions {
  /** `host:port` to serve /metrics on instead of printing (the daemon's child; refused as root). */
  serve?: string;
}

/** One exposition of what `dopq q --all --json` shows, read as q reads it. */
export async function metricsText(ctx: CommandContext): Promise<string> {
  const now = Date.now();
  const [view, status] = await Promise.all([buildView(ctx, { all: true }, now), readDaemonStatus(ctx.spool.daemonStatus)]);
  return renderExposition(queueMetrics(view, { lastPass: status?.last_pass ?? null }));
}

export async function metricsCommand(ctx: CommandContext, options: MetricsOptions): Promise<number> {
  await requireSpool(ctx);
  if (options.serve === undefined) {
    ctx.io.out(await metricsText(ctx));
    return ExitCode.ok;
  }
  if (process.getuid?.() === 0)
    throw new DopqError('metrics-root', ExitCode.noPermission, 'refusing to serve /metrics as root', options.serve, {
      hint: 'the daemon starts it as metrics.user (dopq or nobody); run it as an unprivileged user',
    });
  const { serveMetrics } = await import('../metrics-server.js');
  return serveMetrics(ctx, options.serve, () => metricsText(ctx));
}
