// The exit status `dopq wait` and `dopq log -f` give for a job's outcome (dopq(1), EXIT STATUS):
// the job's own exit code; 128+signal when a signal killed it; and three codes of dopq's own for
// jobs that never ran to an exit of their own. These lie above 192 (128 + the highest Linux
// signal, 64) so that no signal's status and none of dopq's sysexits errors (64-78) or shell codes
// (126, 127) can be taken for them.
import type { JobRecord } from './job.js';

export const WaitCode = {
  /** Cancelled: by `dopq rm`, an admin, or because a job it depended on failed. */
  cancelled: 200,
  /** Rejected: its manifest or file was refused, or at its start (another user's image, a mount its owner cannot reach). */
  rejected: 201,
  /** It never ran to an exit of its own: the container could not be created or started, its image failed to build, or it was lost. */
  failedToStart: 202,
} as const;

const SIGTERM = 15;
const SIGKILL = 9;

/** The exit status for a finished job; undefined while it has not ended. */
export function waitCode(job: Pick<JobRecord, 'state' | 'reason' | 'exit_code'>): number | undefined {
  const exit = job.exit_code ?? null;
  switch (job.state) {
    case 'done':
      return 0;
    case 'cancelled':
      return WaitCode.cancelled;
    case 'rejected':
      return WaitCode.rejected;
    case 'failed':
      if (job.reason === 'start-failed' || job.reason === 'build-failed') return WaitCode.failedToStart;
      // Docker already reports a killed process as 128+signal (137 for SIGKILL).
      if (exit !== null && exit !== 0) return exit;
      // Stopped at its limit (SIGTERM) or by the kernel (SIGKILL) yet exiting 0: still killed.
      if (job.reason === 'time-limit') return 128 + SIGTERM;
      if (job.reason === 'oom-killed') return 128 + SIGKILL;
      return WaitCode.failedToStart;
    default:
      return undefined;
  }
}

/** Several jobs: 0 when all succeeded, else the highest of their codes (as `sbatch --wait` for an array). */
export function combinedWaitCode(codes: readonly number[]): number {
  return codes.reduce((highest, code) => Math.max(highest, code), 0);
}
