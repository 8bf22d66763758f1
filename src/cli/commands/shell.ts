// `dopq shell` and `dopq attach ID`: an interactive job. shell queues one (a manifest with
// `interactive: true`), shows its place and estimated start while it waits, then joins this
// terminal to it; attach joins a running one again. The daemon brokers the terminal
// (daemon/jobs/sessions.ts): users never reach the Docker engine.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Socket } from 'node:net';
import { stringify } from 'yaml';
import {
  DopqError,
  ExitCode,
  InvalidDocumentError,
  NotFoundError,
  PermissionError,
  UnavailableError,
  UsageError,
} from '../../core/errors.js';
import { defaultsBeyondHost, fitHost } from '../../core/config/fit-host.js';
import { isFinished, type JobRecord } from '../../core/job/job.js';
import { parseManifest } from '../../core/job/manifest.js';
import { mayActOnJob } from '../../core/permissions.js';
import type { SessionExit } from '../../core/session/frames.js';
import { waitingLine } from '../../core/session/waiting-line.js';
import { buildQueueView } from '../../core/view/queue-view.js';
import { localHostFigures } from '../../io/host/host-resources.js';
import { createShareResolver } from '../../io/host/shares.js';
import { currentCaller } from '../../io/host/users.js';
import { daemonAlive } from '../../io/spool/daemon-lock.js';
import { intakeFileMaxBytes, pendingJobs } from '../../io/spool/pending.js';
import { sessionSocketPath } from '../../io/spool/session-socket.js';
import { assertSpoolReady, INTAKE_SUFFIX } from '../../io/spool/spool.js';
import { readState } from '../../io/spool/state-store.js';
import type { CommandContext } from '../context.js';
import { sendRequest } from '../requests.js';
import { openSessionSocket, runSession } from '../session-client.js';
import { checkAdmission, publishJob } from './push.js';

export interface ShellOptions {
  image?: string;
  gpus?: number;
  /** Seconds. */
  time?: number;
}

/** What runs without `-- CMD`: every image has it, and it reads the terminal. */
export const DEFAULT_SHELL = ['/bin/sh'];
/** The exit code when the user stopped waiting with Ctrl-C (as a shell reports SIGINT). */
const INTERRUPTED = 130;

export async function shellCommand(ctx: CommandContext, command: string[], options: ShellOptions): Promise<number> {
  const image = options.image ?? ctx.config.interactive.image;
  if (!image) {
    throw new UsageError('--image is required: this server sets no interactive.image', {
      hint: 'dopq shell --image IMAGE [-- CMD ...]; an admin may set interactive.image in the config',
    });
  }
  requireTerminal('shell');
  const term = ctx.env['TERM'];
  const manifest = {
    name: 'shell',
    image,
    command: command.length > 0 ? command : DEFAULT_SHELL,
    interactive: true,
    ...(options.gpus !== undefined ? { gpus: options.gpus } : {}),
    ...(options.time !== undefined ? { time_limit: options.time } : {}),
    // The program draws for the user's terminal (the engine's default is xterm).
    ...(term && /^[A-Za-z0-9._+-]{1,64}$/.test(term) ? { env: { TERM: term } } : {}),
  };
  const text = stringify(manifest);
  const source = path.join(process.cwd(), 'dopq-shell');
  const host = localHostFigures();
  const parsed = parseManifest(text, fitHost(ctx.config, host).config, 'shell', process.getuid?.());
  if (!parsed.ok) {
    // Issues name manifest fields; say them as the flags that set them.
    const flags: Record<string, string> = { image: '--image', gpus: '--gpus', time_limit: '--time', command: '-- CMD' };
    const issues = parsed.issues.map((issue) => ({ ...issue, path: flags[issue.path] ?? issue.path, line: undefined }) as const);
    if (parsed.issues.some((issue) => issue.denied))
      throw new PermissionError('shell', issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
    throw new InvalidDocumentError(
      'manifest',
      'shell',
      issues.map(({ line: _line, ...issue }) => issue),
    );
  }
  const overDefaults = defaultsBeyondHost(parsed.manifest, host);
  if (overDefaults.length > 0) throw new InvalidDocumentError('manifest', 'shell', overDefaults);
  await assertSpoolReady(ctx.spool);
  await checkAdmission(ctx, 1);
  const id = await publishJob(ctx, text, source, parsed.manifest);
  ctx.io.err(`dopq: job ${id} queued; Ctrl-C cancels it while it waits\n`);
  return joinSession(ctx, id, true);
}

export async function attachCommand(ctx: CommandContext, id: number): Promise<number> {
  // Whose job and what it is first: a terminal matters only once the answer is yes.
  const state = await readState(ctx.spool.state);
  const job = state.jobs.find((j) => j.id === id);
  if (!job) throw new NotFoundError(`job ${id}`, 'no such job (or the daemon has not read it yet)');
  if (!mayActOnJob('attach', job, await currentCaller(), ctx.config.admins)) {
    throw new PermissionError(`job ${id}`, `${job.user}'s job: only its owner or root may attach to it`);
  }
  if (!job.interactive) {
    throw new DopqError('not-interactive', ExitCode.usage, 'has no terminal: it was not pushed as interactive', `job ${id}`, {
      hint: `dopq log -f ${id} follows its output`,
    });
  }
  if (isFinished(job)) throw new DopqError('finished', ExitCode.partial, `already finished (${job.state})`, `job ${id}`);
  requireTerminal('attach');
  return joinSession(ctx, id, false);
}

function requireTerminal(command: 'shell' | 'attach'): void {
  if (!process.stdin.isTTY) {
    throw new DopqError('usage', ExitCode.usage, 'standard input is not a terminal', command, {
      hint: 'run it from a terminal (ssh -t for a remote one); dopq push runs jobs without one',
    });
  }
}

/**
 * Wait for the job's turn, then run the session until it ends or the user detaches. `owned`: this
 * command queued the job, so Ctrl-C while it waits cancels it (else it only stops waiting).
 */
async function joinSession(ctx: CommandContext, id: number, owned: boolean): Promise<number> {
  const interrupted = { now: false };
  const onInterrupt = () => (interrupted.now = true);
  process.on('SIGINT', onInterrupt);
  let reached: { socket: Socket } | { job: JobRecord } | 'interrupted';
  const status = statusLine();
  try {
    reached = await waitForTerminal(ctx, id, interrupted, status);
  } finally {
    status.clear();
    process.off('SIGINT', onInterrupt);
  }
  if (reached === 'interrupted') {
    if (!owned) {
      ctx.io.err(`dopq: stopped waiting; job ${id} stays queued: dopq attach ${id} once it runs\n`);
      return INTERRUPTED;
    }
    await sendRequest(ctx, { op: 'rm', ids: [id] });
    await rm(path.join(ctx.spool.intake, `${id}${INTAKE_SUFFIX}`), { force: true }).catch(() => undefined);
    ctx.io.err(`dopq: job ${id} cancelled\n`);
    return INTERRUPTED;
  }
  if ('job' in reached)
    return ended(ctx, id, { state: reached.job.state, exit_code: reached.job.exit_code ?? null, reason: reached.job.reason ?? null });
  ctx.io.err(`dopq: attached to job ${id}; Ctrl-P Ctrl-Q detaches, exit ends the job\r\n`);
  const end = await runSession(reached.socket, {
    input: process.stdin,
    output: process.stdout,
    notices: (line) => ctx.io.err(`\r\ndopq: ${line}\r\n`),
  });
  if (end.kind === 'exit') return ended(ctx, id, end.exit);
  if (end.kind === 'detached') {
    ctx.io.err(`\r\ndopq: detached from job ${id}; it goes on: dopq attach ${id}\n`);
    return ExitCode.ok;
  }
  // Closed without an exit frame: the job may have ended just then, else it goes on without us.
  const job = (await readState(ctx.spool.state)).jobs.find((j) => j.id === id);
  if (job && isFinished(job)) return ended(ctx, id, { state: job.state, exit_code: job.exit_code ?? null, reason: job.reason ?? null });
  ctx.io.err(`\r\ndopq: the session of job ${id} closed; the job goes on: dopq attach ${id}\n`);
  return ExitCode.tempFail;
}

/** The program's exit code when it exited; a line on stderr and 1 (or the container's code) otherwise. */
function ended(ctx: CommandContext, id: number, exit: SessionExit): number {
  if (exit.state === 'done') return ExitCode.ok;
  if (exit.reason !== 'exited')
    ctx.io.err(`dopq: job ${id} ${exit.state}${exit.reason && exit.reason !== exit.state ? ` (${exit.reason})` : ''}\n`);
  return exit.exit_code !== null && exit.exit_code > 0 ? exit.exit_code : ExitCode.partial;
}

/** The job's terminal once it runs (its socket open), or the job when it ended without one. */
async function waitForTerminal(
  ctx: CommandContext,
  id: number,
  interrupted: { now: boolean },
  status: StatusLine,
): Promise<{ socket: Socket } | { job: JobRecord } | 'interrupted'> {
  const socketFile = sessionSocketPath(ctx.spool.sessions, id);
  for (let tick = 0; ; tick++) {
    if (interrupted.now) return 'interrupted';
    const state = await readState(ctx.spool.state);
    const job = state.jobs.find((j) => j.id === id);
    if (job && isFinished(job)) return { job };
    if (job?.state === 'running') {
      try {
        return { socket: await openSessionSocket(socketFile) };
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EACCES') throw new PermissionError(`job ${id}`, 'only its owner or root may attach to it');
        if (code !== 'ENOENT' && code !== 'ECONNREFUSED') throw error;
        // Placed and being started, or a daemon that is gone: only the first is worth waiting for.
        if (!(await daemonAlive(ctx.spool.daemonPid))) {
          throw new UnavailableError(`job ${id}`, 'runs, but no dopq daemon serves its terminal now', {
            hint: `the job goes on; dopq attach ${id} once dopq run is back`,
          });
        }
        status.show(`job ${id} starts`);
        await sleep(200);
        continue;
      }
    }
    if (tick % 4 === 0) status.show(await waitingText(ctx, id, state));
    await sleep(250);
  }
}

/** Where the job stands, from the same view `dopq q` draws. */
async function waitingText(ctx: CommandContext, id: number, state: Awaited<ReturnType<typeof readState>>): Promise<string> {
  const [pending, alive] = await Promise.all([
    pendingJobs(ctx.spool.intake, intakeFileMaxBytes(ctx.config.limits.manifest_bytes)),
    daemonAlive(ctx.spool.daemonPid),
  ]);
  const shares = await createShareResolver(ctx.config).sharesOf([...state.jobs.map((job) => job.user), ...pending.map((job) => job.user)]);
  const now = Date.now();
  const view = buildQueueView(state, pending, { now, config: ctx.config, shares, daemonAlive: alive, all: false });
  const line = waitingLine(
    view.jobs.find((job) => job.id === id),
    id,
    now,
    ctx.env['TZ'],
  );
  return alive ? line : `${line} (no dopq daemon runs now)`;
}

interface StatusLine {
  show(text: string): void;
  clear(): void;
}

/** One line on stderr, rewritten in place on a terminal; elsewhere written again only when it says something new. */
function statusLine(): StatusLine {
  const stream = process.stderr;
  let last = '';
  let shown = false;
  return {
    show(text) {
      if (stream.isTTY) {
        stream.write(`\r\x1b[K${text.slice(0, Math.max(20, (stream.columns ?? 80) - 1))}`);
        shown = true;
      } else {
        const key = text.replace(/ \(in [^)]*\)/, '');
        if (key !== last) stream.write(`${text}\n`);
        last = key;
      }
    },
    clear() {
      if (shown) stream.write('\r\x1b[K');
      shown = false;
    },
  };
}
