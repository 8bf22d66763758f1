// Admin-only requests on the whole queue: pause, resume, usage reset, history clear, shutdown.
// The CLI refuses non-admins at once (exit 77); the daemon checks again on the request file.
import { DopqError, ExitCode, PermissionError } from '../../core/errors.js';
import { isAdmin } from '../../core/permissions.js';
import { daemonAlive, isProcessAlive, readDaemonPid } from '../../io/spool/daemon-lock.js';
import { assertSpoolReady } from '../../io/spool/spool.js';
import { currentCaller, userExists } from '../../io/host/users.js';
import { readState } from '../../io/spool/state-store.js';
import type { CommandContext } from '../context.js';
import { sendRequest } from '../requests.js';

export async function assertAdmin(ctx: CommandContext, what: string): Promise<void> {
  await assertSpoolReady(ctx.spool);
  const caller = await currentCaller();
  if (!isAdmin(caller, ctx.config.admins)) {
    throw new PermissionError(what, `only admins may do this (${caller.user} is not one)`, {
      hint: `admins are root and the config's admins: ${ctx.config.admins.join(', ') || '(none)'}`,
    });
  }
}

async function daemonNote(ctx: CommandContext): Promise<string> {
  return (await daemonAlive(ctx.spool.daemonPid)) ? '' : ' (no daemon is running: it takes effect when one starts)';
}

export async function pauseCommand(ctx: CommandContext, pause: boolean): Promise<number> {
  await assertAdmin(ctx, pause ? 'pause' : 'resume');
  await sendRequest(ctx, { op: pause ? 'pause' : 'resume' });
  ctx.io.out(`${pause ? 'paused: no new jobs start; running jobs continue' : 'resumed'}${await daemonNote(ctx)}\n`);
  return ExitCode.ok;
}

/** `user`: a user name, checked as commander parsed it (cli/args.ts). */
export async function usageResetCommand(ctx: CommandContext, user: string | undefined): Promise<number> {
  await assertAdmin(ctx, 'usage reset');
  if (user !== undefined && !(await knownUser(ctx, user))) {
    throw new DopqError('no-user', ExitCode.noUser, `no such user: ${user}`, 'usage reset', {
      hint: 'give a login name; `dopq q` lists the users with usage',
    });
  }
  await sendRequest(ctx, { op: 'usage-reset', user: user ?? null });
  ctx.io.out(`usage of ${user ?? 'every user'} reset${await daemonNote(ctx)}\n`);
  return ExitCode.ok;
}

/** A user of this system, or one the queue has records of (who may have left it since). */
async function knownUser(ctx: CommandContext, user: string): Promise<boolean> {
  if (await userExists(user)) return true;
  const state = await readState(ctx.spool.state);
  return state.jobs.some((job) => job.user === user) || (state.carried_usage ?? []).some((usage) => usage.user === user);
}

/** `before`: milliseconds since the epoch, parsed from the date the admin typed (cli/args.ts). */
export async function historyClearCommand(ctx: CommandContext, options: { before?: number }): Promise<number> {
  const before = options.before ?? null;
  await assertAdmin(ctx, 'history clear');
  await sendRequest(ctx, { op: 'history-clear', before });
  ctx.io.out(
    `finished jobs${before === null ? '' : ` that ended before ${new Date(before).toISOString()}`} cleared from the history; usage is kept (see dopq usage reset)${await daemonNote(ctx)}\n`,
  );
  return ExitCode.ok;
}

/** `wait`: seconds, parsed from what the admin typed (cli/args.ts). */
export async function shutdownCommand(ctx: CommandContext, options: { wait: number }): Promise<number> {
  await assertAdmin(ctx, 'shutdown');
  const daemon = await readDaemonPid(ctx.spool.daemonPid);
  if (!daemon || !(await daemonAlive(ctx.spool.daemonPid)))
    throw new DopqError('no-daemon', ExitCode.unavailable, 'no daemon is running on this spool', 'shutdown');
  await sendRequest(ctx, { op: 'shutdown' });
  const waitMs = options.wait * 1000;
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    if (!isProcessAlive(daemon.pid) || !(await daemonAlive(ctx.spool.daemonPid))) {
      ctx.io.out(`daemon (pid ${daemon.pid}) stopped; running containers keep running\n`);
      return ExitCode.ok;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new DopqError(
    'still-running',
    ExitCode.tempFail,
    `asked daemon pid ${daemon.pid} to stop; it is still running after ${waitMs / 1000}s`,
    'shutdown',
  );
}
