// Run the built `dopq` binary, as root or as a real Unix user, and capture what it prints.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { UnixUser } from './users.js';

/** The `dopq` executable as npm installs it (package.json's bin): the bundle's launcher. */
export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/dopq.cjs');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  user?: UnixUser;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to the command's standard input (none otherwise). */
  input?: string;
}

function spawnCli(args: string[], options: CliOptions): ChildProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...options.env };
  delete env['FORCE_COLOR'];
  // Tests match q's tables whole: a COLUMNS from the runner's terminal would fit them to it.
  if (!options.env?.['COLUMNS']) delete env['COLUMNS'];
  return spawn(process.execPath, [CLI, ...args], {
    env: options.user ? { ...env, HOME: options.user.home, USER: options.user.name, LOGNAME: options.user.name } : env,
    cwd: options.cwd ?? '/',
    ...(options.user ? { uid: options.user.uid, gid: options.user.gid } : {}),
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
}

export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const child = spawnCli(args, options);
  if (options.input !== undefined) child.stdin!.end(options.input);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface DaemonProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startDaemonProcess(configFile: string, extraArgs: string[] = []): DaemonProcess {
  const child = spawnCli(['--config', configFile, 'run', ...extraArgs], {});
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
