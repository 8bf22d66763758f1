// `dopq q`: the queue as tables, or as one JSON object for scripts.
import { ExitCode } from '../../core/errors.js';
import { buildQueueView } from '../../core/view/queue-view.js';
import { renderQueue } from '../../core/view/render.js';
import { daemonAlive } from '../../io/spool/daemon-lock.js';
import { pendingJobs } from '../../io/spool/pending.js';
import { createShareResolver } from '../../io/host/shares.js';
import { readState } from '../../io/spool/state-store.js';
import { readDaemonStatus } from '../../io/spool/daemon-status.js';
import type { CommandContext } from '../context.js';
import { colorLevel } from '../color.js';

/** Finished rows the tables show without `--all`: the newest, like squeue beside sacct. */
const FINISHED_SHOWN = 50;

export async function queueCommand(ctx: CommandContext, options: { json?: boolean; all?: boolean }): Promise<number> {
  const [state, pending, alive, status] = await Promise.all([
    readState(ctx.spool.state),
    pendingJobs(ctx.spool.intake),
    daemonAlive(ctx.spool.daemonPid),
    readDaemonStatus(ctx.spool.daemonStatus),
  ]);
  const shares = await createShareResolver(ctx.config).sharesOf([...state.jobs.map((job) => job.user), ...pending.map((job) => job.user)]);
  const now = Date.now();
  const view = buildQueueView(state, pending, {
    now,
    config: ctx.config,
    shares,
    daemonAlive: alive,
    all: Boolean(options.all),
    ...(status ? { status } : {}),
  });
  if (options.json) ctx.io.out(`${JSON.stringify(view)}\n`);
  else
    ctx.io.out(
      renderQueue(view, { now, colorLevel: colorLevel(ctx.io.isTTY, ctx.env), ...(options.all ? {} : { finishedLimit: FINISHED_SHOWN }) }),
    );
  return ExitCode.ok;
}
