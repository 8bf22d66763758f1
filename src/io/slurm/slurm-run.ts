// Running one of Slurm's client commands: execFile (never a shell), a deadline, and an environment
// of our own, so neither the daemon's nor a caller's SBATCH_*/SLURM_* variables change what it does.
import { execFile } from 'node:child_process';
import path from 'node:path';
import type { SlurmConfig } from '../../core/config/config.js';
import { UnavailableError } from '../../core/errors.js';

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A controller that does not answer must not hang a pass or a command: Slurm's own client timeout is longer. */
const DEFAULT_TIMEOUT_MS = 20_000;

export class SlurmCommandError extends Error {
  constructor(
    readonly command: string,
    /** What went wrong, in Slurm's words where it said any. */
    readonly detail: string,
    /** The command is not installed (or not in `slurm.bin`). */
    readonly notFound = false,
  ) {
    super(`${command}: ${detail}`);
  }
}

export interface SlurmRunOptions {
  /** Folder of the Slurm commands (`slurm.bin`); null: found on PATH. */
  bin: string | null;
  timeoutMs?: number;
  /** Written to the command's stdin (sbatch's batch script). */
  input?: string;
  /** Variables besides PATH and LC_ALL=C (SLURM_CONF, SLURM_TIME_FORMAT), and nothing else. */
  env?: Readonly<Record<string, string | undefined>>;
  maxBuffer?: number;
}

/** Run `name` with `args`; its stdout, or a SlurmCommandError with the last lines Slurm printed. */
export function runSlurm(name: string, args: readonly string[], options: SlurmRunOptions): Promise<string> {
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const env: NodeJS.ProcessEnv = { PATH, LC_ALL: 'C' };
  for (const [key, value] of Object.entries(options.env ?? {})) if (value !== undefined) env[key] = value;
  return new Promise((resolve, reject) => {
    const child = execFile(
      options.bin ? path.join(options.bin, name) : name,
      [...args],
      { timeout, killSignal: 'SIGKILL', maxBuffer: options.maxBuffer ?? 64 * 1024 ** 2, env, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return reject(new SlurmCommandError(name, 'not found', true));
        if (code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') return reject(new SlurmCommandError(name, 'printed more than dopq reads'));
        const detail = stderr.trim().split('\n').slice(-3).join('; ') || error.message.split('\n')[0]!;
        reject(new SlurmCommandError(name, error.killed ? `no answer within ${timeout / 1000}s` : detail));
      },
    );
    child.stdin?.on('error', () => undefined); // a command that exits early closes its stdin
    child.stdin?.end(options.input ?? '');
  });
}

/**
 * For commands a person runs (doctor): one Slurm command with the admin's SLURM_CONF, and a
 * failure as an UnavailableError that says what to check.
 */
export async function slurmCommand(slurm: Pick<SlurmConfig, 'bin'>, name: string, args: readonly string[]): Promise<string> {
  try {
    // Its PATH too: a person's Slurm may live outside the standard folders.
    const env = { PATH: process.env['PATH'], SLURM_CONF: process.env['SLURM_CONF'] };
    return await runSlurm(name, args, { bin: slurm.bin, env });
  } catch (error) {
    if (!(error instanceof SlurmCommandError)) throw error;
    const command = slurm.bin ? path.join(slurm.bin, name) : name;
    throw new UnavailableError(command, error.notFound ? 'not found' : `${args.join(' ')}: ${error.detail}`, {
      hint: error.notFound
        ? "install Slurm's client commands (slurm-client), or set slurm.bin to their folder"
        : 'is slurmctld up? (scontrol ping)',
      cause: error,
    });
  }
}
