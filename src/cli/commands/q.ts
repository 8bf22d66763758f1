// `dopq q`: the queue as tables, or as one JSON object for scripts.
import { ExitCode } from '../../core/errors.js';
import { buildQueueView, type QueueView } from '../../core/view/queue-view.js';
import { renderQueue } from '../../core/view/render.js';
import { daemonAlive } from '../../io/spool/daemon-lock.js';
import { pendingJobs } from '../../io/spool/pending.js';
import { createShareResolver } from '../../io/host/shares.js';
import { readState } from '../../io/spool/state-store.js';
import { readDaemonStatus } from '../../io/spool/daemon-status.js';
import type { CommandContext } from '../context.js';
import { colorLevel } from '../color.js';
import { daemonQueueView } from '../daemon-view.js';

/** Finished rows the tables show without `--all`: the newest, like squeue beside sacct. */
const FINISHED_SHOWN = 50;

export async function queueCommand(ctx: CommandContext, options: { json?: boolean; all?: boolean }): Promise<number> {
  const now = Date.now();
  // The view the daemon built of the state in place, while it still holds (as --json prints it); else built here.
  const cached = options.all ? undefined : await daemonQueueView(ctx, now);
  if (cached && options.json) {
    ctx.io.out(cached.json);
    return ExitCode.ok;
  }
  const view = cached?.view() ?? (await buildView(ctx, options, now));
  if (options.json) ctx.io.out(`${JSON.stringify(view)}\n`);
  else
    ctx.io.out(
      renderQueue(view, { now, colorLevel: colorLevel(ctx.io.isTTY, ctx.env), ...(options.all ? {} : { finishedLimit: FINISHED_SHOWN }) }),
    );
  return ExitCode.ok;
}

async function buildView(ctx: CommandContext, options: { all?: boolean }, now: number): Promise<QueueView> {
  const [state, pending, alive, status] = await Promise.all([
    readState(ctx.spool.state),
    pendingJobs(ctx.spool.intake),
    daemonAlive(ctx.spool.daemonPid),
    readDaemonStatus(ctx.spool.daemonStatus),
  ]);
  const shares = await createShareResolver(ctx.config).sharesOf([...state.jobs.map((job) => job.user), ...pending.map((job) => job.user)]);
  return buildQueueView(state, pending, {
    now,
    config: ctx.config,
    shares,
    daemonAlive: alive,
    all: Boolean(options.all),
    ...(status ? { status } : {}),
  });
}
