// Slurm's client commands (sbatch, squeue, scontrol, sinfo, sacctmgr, ...), behind one call with a deadline.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { UnavailableError } from '../../core/errors.js';
import type { SlurmConfig } from '../../core/config/config.js';

const run = promisify(execFile);

/** A controller that does not answer must not hang a command: Slurm's own client timeout is longer. */
const DEFAULT_TIMEOUT_MS = 20_000;

/** Run one Slurm command (found in `slurm.bin`, else on PATH) and return its stdout; a failure says what Slurm said. */
export async function slurmCommand(
  slurm: Pick<SlurmConfig, 'bin'>,
  name: string,
  args: readonly string[],
  options: { timeoutMs?: number; input?: string } = {},
): Promise<string> {
  const command = slurm.bin ? path.join(slurm.bin, name) : name;
  try {
    const { stdout } = await run(command, [...args], {
      timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, LC_ALL: 'C' },
    });
    return stdout;
  } catch (error) {
    const failed = error as NodeJS.ErrnoException & { stderr?: string };
    const said = (failed.stderr ?? '').trim().split('\n')[0] || failed.message.split('\n')[0];
    throw new UnavailableError(command, failed.code === 'ENOENT' ? 'not found' : `${args.join(' ')}: ${said}`, {
      hint:
        failed.code === 'ENOENT'
          ? "install Slurm's client commands (slurm-client), or set slurm.bin to their folder"
          : 'is slurmctld up? (scontrol ping)',
      cause: error,
    });
  }
}
