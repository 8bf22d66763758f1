// `dopq q`: the queue as tables fitted to the terminal, or as one JSON object for scripts.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DopqError, ExitCode } from '../../core/errors.js';
import { isFiltering, type JobFilter, type StateFilter } from '../../core/view/job-filter.js';
import { buildQueueView, type QueueView } from '../../core/view/queue-view.js';
import { userName } from '../../io/host/users.js';
import { daemonAlive } from '../../io/spool/daemon-lock.js';
import { intakeFileMaxBytes, pendingJobs } from '../../io/spool/pending.js';
import { createShareResolver } from '../../io/host/shares.js';
import { readState } from '../../io/spool/state-store.js';
import { readDaemonStatus } from '../../io/spool/daemon-status.js';
import type { CommandContext } from '../context.js';
import { colorLevel } from '../color.js';
import { daemonQueueView } from '../daemon-view.js';
import type { CachedQueueView } from '../../io/spool/queue-view-cache.js';
import { watchFolders } from '../spool-watch.js';

/** Finished rows the tables show without `--all`: the newest, like squeue beside sacct. */
const FINISHED_SHOWN = 50;

export interface QueueOptions {
  json?: boolean;
  all?: boolean;
  /** Every column, nothing cut, whatever the width. */
  wide?: boolean;
  /** `-u`: only these owners' jobs. */
  user?: string[];
  /** Only the caller's jobs. */
  me?: boolean;
  state?: StateFilter[];
  /** A glob over job names. */
  name?: string;
  /** `-q`: job ids only, one a line. */
  quiet?: boolean;
  /** `--format`: these fields, as one table's columns or each JSON job's keys. */
  format?: string[];
  /** `--watch [SECONDS]`: redraw every so many seconds (true: the default). */
  watch?: number | true;
  /** One row per array task. */
  expand?: boolean;
}

/** Seconds between redraws of `q --watch` without a number, as watch(1). */
export const WATCH_DEFAULT_SECONDS = 2;

export async function queueCommand(ctx: CommandContext, options: QueueOptions): Promise<number> {
  await requireSpool(ctx);
  const filter = await jobFilterOf(options);
  if (options.watch !== undefined) return watchQueue(ctx, options, filter);
  let looked: CachedQueueView | null | undefined;
  if (options.json && !options.all && !isFiltering(filter) && !options.format && !options.quiet) {
    // The whole view as JSON: the daemon's line as it lies on disk, not parsed and printed again.
    looked = (await daemonQueueView(ctx, Date.now())) ?? null;
    if (looked) {
      ctx.io.out(looked.json);
      return ExitCode.ok;
    }
  }
  ctx.io.out(await queueOutput(ctx, options, filter, ctx.io.isTTY ? process.stdout.columns : undefined, looked));
  return ExitCode.ok;
}

/** What `-u`, `--me`, `--state` and `--name` ask for, with `--me` as the caller's name. */
async function jobFilterOf(options: QueueOptions): Promise<JobFilter> {
  const users = [...(options.user ?? []), ...(options.me ? [await userName(process.getuid?.() ?? 0)] : [])];
  return {
    ...(users.length > 0 ? { users } : {}),
    ...(options.state ? { states: options.state } : {}),
    ...(options.name !== undefined ? { name: options.name } : {}),
  };
}

/**
 * Redraw in place until Ctrl-C (exit 0): the cursor goes home and each line overwrites the last
 * frame's (clearing what is left of it), so the screen never goes blank between frames; a frame
 * is drawn when the output changed, at most every interval, and the daemon's saves wake it early.
 * Not a terminal: each changed frame is printed after the last.
 */
async function watchQueue(ctx: CommandContext, options: QueueOptions, filter: JobFilter): Promise<number> {
  const intervalMs = (options.watch === true ? WATCH_DEFAULT_SECONDS : options.watch!) * 1000;
  const spool = watchFolders([ctx.spool.intake, path.dirname(ctx.spool.state)]);
  let stop!: () => void;
  const stopped = new Promise<'stop'>((resolve) => (stop = () => resolve('stop')));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const tty = ctx.io.isTTY;
  try {
    let last = '';
    for (;;) {
      const lookedAt = Date.now();
      const frame = await queueOutput(ctx, options, filter, tty ? process.stdout.columns : undefined);
      if (frame !== last) {
        ctx.io.out(tty ? `\x1b[H${frame.replaceAll('\n', '\x1b[K\n')}\x1b[J` : `${last === '' ? '' : '\n'}${frame}`);
        last = frame;
      }
      // Woken early by the daemon's saves, but looking at most once a second; at the latest each interval.
      const next = sleep(Math.max(0, Math.min(intervalMs, 1000) - (Date.now() - lookedAt))).then(() =>
        spool.next(Math.max(0, intervalMs - (Date.now() - lookedAt))),
      );
      if ((await Promise.race([stopped, next])) === 'stop') return ExitCode.ok;
    }
  } finally {
    spool.close();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/**
 * One look at the queue, as `options` asks it drawn. `looked`: the daemon's view when the caller
 * already looked for it (null: there was none), so a miss does not read it all again.
 */
async function queueOutput(
  ctx: CommandContext,
  options: QueueOptions,
  filter: JobFilter,
  columns: number | undefined,
  looked?: CachedQueueView | null,
): Promise<string> {
  const now = Date.now();
  // The view the daemon built of the state in place, while it still holds; else built here.
  const cached = options.all ? undefined : looked === undefined ? await daemonQueueView(ctx, now) : (looked ?? undefined);
  const view = cached?.view() ?? (await buildView(ctx, options, now));
  // Loaded when used: `q --json` on the daemon's view (scripts, dashboards) needs none of them.
  const [{ fieldContext, filterView, jobIdLines, renderJobTable }, { pickFields }, { renderQueue }] = await Promise.all([
    import('../../core/view/job-table.js'),
    import('../../core/view/job-fields.js'),
    import('../../core/view/render.js'),
  ]);
  const shown: QueueView = isFiltering(filter) ? filterView(view, filter) : view;
  const timeZone = ctx.env['TZ'] || undefined;
  if (options.quiet) return jobIdLines(shown.jobs, filter.states);
  const fields = options.format;
  if (options.json) {
    if (!fields) return `${JSON.stringify(shown)}\n`;
    const fieldCtx = fieldContext(shown, now, timeZone);
    return `${JSON.stringify({ ...shown, jobs: shown.jobs.map((job) => pickFields(job, fields, fieldCtx)) })}\n`;
  }
  const width = options.wide ? undefined : outputWidth(ctx.env, columns, ctx.io.isTTY);
  if (fields) return renderJobTable(shown.jobs, fields, fieldContext(shown, now, timeZone), width);
  return renderQueue(shown, {
    now,
    colorLevel: colorLevel(ctx.io.isTTY, ctx.env),
    ...(width !== undefined ? { width } : {}),
    ...(timeZone ? { timeZone } : {}),
    ...(options.all ? {} : { finishedLimit: FINISHED_SHOWN }),
    ...(options.expand ? { expand: true } : {}),
  });
}

/** `asAnyone`: the view any local user gets, without the caller's own pending jobs' details (the web dashboard's). */
export async function buildView(
  ctx: CommandContext,
  options: Pick<QueueOptions, 'all'> & { asAnyone?: boolean },
  now: number,
): Promise<QueueView> {
  // Looked at before the state is read: a state written in between only makes the view newer.
  const noStateYet = await isMissing(ctx.spool.state);
  const [state, pending, alive, status] = await Promise.all([
    readState(ctx.spool.state),
    pendingJobs(ctx.spool.intake, intakeFileMaxBytes(ctx.config.limits.manifest_bytes), !options.asAnyone),
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
export async function requireSpool(ctx: CommandContext): Promise<void> {
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
