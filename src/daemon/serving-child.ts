// What the daemon serves over HTTP (/metrics on metrics.listen, the web dashboard on web.listen):
// each by a child process running `dopq metrics --serve` or `dopq web --serve` as an unprivileged
// user (metrics.user / web.user; else `dopq` if it exists, else `nobody`), never as root. The child
// reads the spool as `dopq q` does; the daemon only starts it, restarts it when it dies, and stops
// it, so a slow or hostile client can hold nothing the passes need.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../io/files/package-root.js';
import { idsOfUser, userExists } from '../io/host/users.js';
import type { DaemonContext } from './context.js';

/** A child that dies is started again after this long (ms), so a port in use does not spin. */
const RESTART_DELAY_MS = 10_000;

/** Which child: its config section (`metrics`, `web`), the command it runs, and what logs call it. */
export interface ServingKind {
  key: 'metrics' | 'web';
  /** The path shown in the log: `/metrics`, `the web dashboard`. */
  label: string;
  /** The URL path logged beside the address (`/metrics`, `/`). */
  path: string;
}

export const METRICS_CHILD: ServingKind = { key: 'metrics', label: '/metrics', path: '/metrics' };
export const WEB_CHILD: ServingKind = { key: 'web', label: 'the web dashboard', path: '/' };

export interface ServingChild {
  /** The running child's pid (tests check its uid); undefined between restarts. */
  pid(): number | undefined;
  stop(): Promise<void>;
}

/** The `dopq` executable to run: the installed launcher, else whatever script this process runs. */
function cliScript(): string {
  const root = packageRoot()?.root;
  const launcher = root ? path.join(root, 'dist', 'src', 'dopq.cjs') : undefined;
  return launcher && existsSync(launcher) ? launcher : process.argv[1]!;
}

/** The account to serve as: <key>.user, else `dopq` where it exists, else `nobody`. */
async function servingAccount(ctx: DaemonContext, kind: ServingKind): Promise<{ name: string; uid: number; gid: number }> {
  const name = ctx.config[kind.key].user ?? ((await userExists('dopq')) ? 'dopq' : 'nobody');
  const ids = await idsOfUser(name);
  if (!ids) throw new Error(`${kind.key}.user ${name} is not a user on this host`);
  if (ids.uid === 0 || ids.gid === 0)
    throw new Error(`${kind.key}.user ${name} is root (uid or gid 0); ${kind.label} is never served as root`);
  return { name, ...ids };
}

/** Starts the child when <key>.listen is set; undefined when it is not (or cannot be served, which is logged). */
export async function startServingChild(ctx: DaemonContext, kind: ServingKind): Promise<ServingChild | undefined> {
  const listen = ctx.config[kind.key].listen;
  if (!listen) return undefined;
  let account: { name: string; uid: number; gid: number };
  try {
    account = await servingAccount(ctx, kind);
  } catch (error) {
    ctx.log.error(`${kind.label} not served: ${(error as Error).message}`);
    return undefined;
  }
  const address = `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}`;
  let child: ChildProcess | undefined;
  let stopping = false;
  let restart: NodeJS.Timeout | undefined;
  const launch = () => {
    const started = spawn(process.execPath, [cliScript(), '--config', ctx.config.file, kind.key, '--serve', address], {
      uid: account.uid,
      gid: account.gid,
      cwd: '/',
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', NO_COLOR: '1', HOME: '/' },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    child = started;
    started.stderr?.setEncoding('utf8');
    started.stderr?.on('data', (text: string) => {
      for (const line of text.split('\n').filter(Boolean)) ctx.log.info(line.slice(0, 500));
    });
    started.on('error', (error) => ctx.log.error(`${kind.label} child: ${error.message}`));
    started.on('exit', (code, signal) => {
      if (child === started) child = undefined;
      if (stopping) return;
      ctx.log.error(`${kind.label} child exited (${signal ?? `code ${code}`}); starting it again in ${RESTART_DELAY_MS / 1000}s`);
      restart = setTimeout(launch, RESTART_DELAY_MS);
      restart.unref();
    });
  };
  launch();
  ctx.log.info(`${kind.label} on http://${address}${kind.path}, served as ${account.name} (uid ${account.uid})`);
  return {
    pid: () => child?.pid,
    async stop() {
      stopping = true;
      clearTimeout(restart);
      const running = child;
      if (!running || running.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
      running.kill('SIGTERM');
      const timer = setTimeout(() => running.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
