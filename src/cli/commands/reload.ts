// `dopq reload` (admins): the running daemon reads its config again, as on SIGHUP, and answers in
// its status file: applied (what changed) or refused (why; the old config stays in force).
// A request file rather than a signal: an admin who is not root cannot signal root's daemon,
// and the daemon checks the requester's uid on the file as for every admin request.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DopqError, ExitCode } from '../../core/errors.js';
import { daemonAlive, readDaemonPid } from '../../io/spool/daemon-lock.js';
import { readDaemonStatus, type ReloadStatus } from '../../io/spool/daemon-status.js';
import type { CommandContext } from '../context.js';
import { sendRequest } from '../requests.js';
import { assertAdmin } from './admin.js';

/** `wait`: seconds, parsed from what the admin typed (cli/args.ts). */
export async function reloadCommand(ctx: CommandContext, options: { wait: number }): Promise<number> {
  await assertAdmin(ctx, 'reload');
  const daemon = await readDaemonPid(ctx.spool.daemonPid);
  // 69 (EX_UNAVAILABLE), as shutdown: there is no service to ask; the next `dopq run` reads the config anyway.
  if (!daemon || !(await daemonAlive(ctx.spool.daemonPid)))
    throw new DopqError('no-daemon', ExitCode.unavailable, 'no daemon is running on this spool: nothing to reload', 'reload', {
      hint: 'the next dopq run reads the config as it is then',
    });
  const token = randomBytes(8).toString('hex');
  await sendRequest(ctx, { op: 'reload', token });
  const answer = await waitForAnswer(ctx, token, options.wait * 1000);
  if (!answer && !(await daemonAlive(ctx.spool.daemonPid)))
    throw new DopqError('no-daemon', ExitCode.unavailable, `daemon pid ${daemon.pid} stopped before it answered`, 'reload');
  if (!answer) {
    // 75 (EX_TEMPFAIL): the daemon is there but did not answer in time; asking again is safe.
    throw new DopqError(
      'no-answer',
      ExitCode.tempFail,
      `asked daemon pid ${daemon.pid} to reload; no answer after ${options.wait}s`,
      'reload',
      { hint: 'the request stays: the daemon reloads when it gets to it (see its log)' },
    );
  }
  if (!answer.applied) {
    // 78 (EX_CONFIG), as the loader's own refusal of a config.
    throw new DopqError(
      'reload-refused',
      ExitCode.config,
      `refused; the daemon keeps its running config:\n${answer.errors.join('\n')}`,
      'reload',
      {
        hint: 'fix the config and run dopq reload again',
      },
    );
  }
  const changed = answer.changed.length === 0 ? 'nothing changed' : `changed ${answer.changed.join(', ')}`;
  ctx.io.out(`reloaded: ${changed}\n`);
  if (answer.pending_restart.length > 0)
    ctx.io.out(`not applied until the daemon restarts: ${answer.pending_restart.join(', ')} (the running value stays in force)\n`);
  return ExitCode.ok;
}

/** The daemon's answer to the request with `token`, or undefined once `waitMs` passed or the daemon is gone. */
async function waitForAnswer(ctx: CommandContext, token: string, waitMs: number): Promise<ReloadStatus | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const reload = (await readDaemonStatus(ctx.spool.daemonStatus))?.reload;
    if (reload?.tokens.includes(token)) return reload;
    if (Date.now() >= deadline || !(await daemonAlive(ctx.spool.daemonPid))) return undefined;
    await sleep(100);
  }
}
