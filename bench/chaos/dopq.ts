// The `dopq` CLI as the harness calls it: as root or as a test user, always with a deadline; and
// `dopq run` as a child process. `cli` is the harness's own snapshot of the build (app.ts).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import type { UnixUser } from '../../test/helpers/users.js';
import type { FinalJob } from './analyze.js';

export interface Dopq {
  cli: string;
  config: string;
}

export interface DopqResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cliEnv(user?: UnixUser): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env['FORCE_COLOR'];
  return user ? { ...env, HOME: user.home, USER: user.name, LOGNAME: user.name } : env;
}

export function dopq(app: Dopq, args: string[], user?: UnixUser, timeoutMs = 30_000): Promise<DopqResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [app.cli, '--config', app.config, ...args],
      {
        cwd: '/',
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
        env: cliEnv(user),
        ...(user ? { uid: user.uid, gid: user.gid } : {}),
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout, stderr: error?.killed ? `${stderr}\n(killed after ${timeoutMs} ms)` : stderr });
      },
    );
  });
}

export interface QueueSnapshot {
  daemonRunning: boolean;
  jobs: FinalJob[];
}

/** `dopq q --json --all`, or the reason it failed. */
export async function queue(app: Dopq): Promise<QueueSnapshot | string> {
  const result = await dopq(app, ['q', '--json', '--all']);
  if (result.code !== 0) return `dopq q exited ${result.code}: ${result.stderr.trim()}`;
  try {
    const view = JSON.parse(result.stdout) as { daemon: { running: boolean }; jobs: FinalJob[] };
    return { daemonRunning: view.daemon.running, jobs: view.jobs };
  } catch (error) {
    return `dopq q printed no JSON: ${(error as Error).message}`;
  }
}

export interface DaemonProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
}

export function startDaemon(app: Dopq): DaemonProcess {
  const child = spawn(process.execPath, [app.cli, '--config', app.config, 'run'], {
    cwd: '/',
    env: cliEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, output: () => output, exited };
}
