// Asking the Slurm controller about one job (`scontrol -d -o show job ID`), with a deadline and
// none of the caller's environment.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { UnavailableError } from '../../core/errors.js';

const run = promisify(execFile);
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** scontrol's one-line answer for `jobId` (digits only, checked by the caller); `bin`: slurm.bin. */
export async function showJobLine(jobId: string, env: Readonly<Record<string, string | undefined>> = {}, bin?: string): Promise<string> {
  try {
    const { stdout } = await run(bin ? path.join(bin, 'scontrol') : 'scontrol', ['-d', '-o', 'show', 'job', jobId], {
      env: { PATH, ...(env['SLURM_CONF'] ? { SLURM_CONF: env['SLURM_CONF'] } : {}) },
      timeout: 20_000,
      maxBuffer: 1024 ** 2,
    });
    return stdout;
  } catch (error) {
    throw new UnavailableError(`Slurm job ${jobId}`, `scontrol could not show the job: ${(error as Error).message.split('\n')[0]}`, {
      hint: 'is slurmctld reachable from this node (scontrol ping)?',
      cause: error,
    });
  }
}
