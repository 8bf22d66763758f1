// Asking the Slurm controller about one job (`scontrol -d -o show job ID`), with a deadline and
// none of the caller's environment: through sudo, a caller's SLURM_CONF must not pick the controller.
import { UnavailableError } from '../../core/errors.js';
import { runSlurm } from './slurm-run.js';

/** scontrol's one-line answer for `jobId` (digits only, checked by the caller); `bin`: slurm.bin. */
export async function showJobLine(jobId: string, bin?: string): Promise<string> {
  try {
    return await runSlurm('scontrol', ['-d', '-o', 'show', 'job', jobId], { bin: bin ?? null, maxBuffer: 1024 ** 2 });
  } catch (error) {
    throw new UnavailableError(`Slurm job ${jobId}`, `scontrol could not show the job: ${(error as Error).message.split('\n')[0]}`, {
      hint: 'is slurmctld reachable from this node (scontrol ping)?',
      cause: error,
    });
  }
}
