// `dopq q`: the queue as tables fitted to the terminal, or as one JSON object for scripts.
import { stat } from 'node:fs/promises';
import { DopqError, ExitCode } from '../../core/errors.js';
import { buildQueueView, type QueueView } from '../../core/view/queue-view.js';
import { daemonAlive } from '../../io/spool/daemon-lock.js';
import { intakeFileMaxBytes, pendingJobs } from '../../io/spool/pending.js';
import { createShareResolver } from '../../io/host/shares.js';
import { readState } from '../../io/spool/state-store.js';
import { readDaemonStatus } from '../../io/spool/daemon-status.js';
import type { CommandContext } from '../context.js';
import { colorLevel } from '../color.js';
import { daemonQueueView } from '../daemon-view.js';

/** Finished rows the tables show without `--all`: the newest, like squeue beside sacct. */
const FINISHED_SHOWN = 50;

export interface QueueOptions {
  json?: boolean;
  all?: boolean;
  /** Every column, nothing cut, whatever the width. */
  wide?: boolean;
}

export async function queueCommand(ctx: CommandContext, options: QueueOptions): Promise<number> {
  await requireSpool(ctx);
  const now = Date.now();
  // The view the daemon built of the state in place, while it still holds (as --json prints it); else built here.
  const cached = options.all ? undefined : await daemonQueueView(ctx, now);
  if (cached && options.json) {
    ctx.io.out(cached.json);
    return ExitCode.ok;
  }
  const view = cached?.view() ?? (await buildView(ctx, options, now));
  if (options.json) {
    ctx.io.out(`${JSON.stringify(view)}\n`);
    return ExitCode.ok;
  }
  const width = options.wide ? undefined : outputWidth(ctx.env, ctx.io.isTTY ? process.stdout.columns : undefined, ctx.io.isTTY);
  // Loaded for tables only: `q --json` (scripts, watchers) needs neither chalk nor cli-table3.
  const { renderQueue } = await import('../../core/view/render.js');
  ctx.io.out(
    renderQueue(view, {
      now,
      colorLevel: colorLevel(ctx.io.isTTY, ctx.env),
      ...(width !== undefined ? { width } : {}),
      ...(ctx.env['TZ'] ? { timeZone: ctx.env['TZ'] } : {}),
      ...(options.all ? {} : { finishedLimit: FINISHED_SHOWN }),
    }),
  );
  return ExitCode.ok;
}

async function buildView(ctx: CommandContext, options: QueueOptions, now: number): Promise<QueueView> {
  // Looked at before the state is read: a state written in between only makes the view newer.
  const noStateYet = await isMissing(ctx.spool.state);
  const [state, pending, alive, status] = await Promise.all([
    readState(ctx.spool.state),
    pendingJobs(ctx.spool.intake, intakeFileMaxBytes(ctx.config.limits.manifest_bytes)),
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
    noStateYet,
    ...(status ? { status } : {}),
  });
}

/**
 * The width the tables must fit, as ps(1) decides it: COLUMNS when it is a positive number, else
 * the terminal's width (80 when it says none); output that is not a terminal is not cut at all,
 * so `dopq q | grep` and `dopq q > file` see every column whole.
 */
export function outputWidth(env: NodeJS.ProcessEnv, terminalColumns: number | undefined, isTTY: boolean): number | undefined {
  const columns = Number(env['COLUMNS']);
  if (Number.isInteger(columns) && columns > 0) return columns;
  if (!isTTY) return undefined;
  return terminalColumns !== undefined && terminalColumns > 0 ? terminalColumns : 80;
}

/**
 * A spool that is not there is a wrong config (a mistyped DOPQ_CONFIG, `dopq init` never run),
 * not an empty queue: say so, with 78 as for any config that does not match the host.
 */
async function requireSpool(ctx: CommandContext): Promise<void> {
  const hint = `the config ${ctx.config.file} names it (spool:); pass the right one with --config or DOPQ_CONFIG, or create the spool with \`dopq init\` as root`;
  if (await isMissing(ctx.spool.root))
    throw new DopqError('no-spool', ExitCode.config, 'no such spool: the folder does not exist', ctx.spool.root, { hint });
  if (await isMissing(ctx.spool.intake))
    throw new DopqError('no-spool', ExitCode.config, 'is not a dopq spool: it has no intake/ folder', ctx.spool.root, { hint });
}

/** Whether nothing lies at `file` (other errors, such as no permission, are left to the reads that follow). */
async function isMissing(file: string): Promise<boolean> {
  try {
    await stat(file);
    return false;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR';
  }
}
