// What a job's owner reads when sbatch refuses a job for good: Slurm's words once (without the
// "sbatch: error:" it prefixes them with), and what to do where the cause is dopq's setup. Pure.

/** The job's failure message from sbatch's own output (`detail`). */
export function sbatchRefusal(detail: string, user: string, account: string | null): string {
  const words = (detail.split('\n')[0] ?? '').replace(/^(sbatch:\s*)+(error:\s*)?/i, '').slice(0, 300);
  // Accounting enforces associations: a user Slurm has never been told about is refused every job.
  const missing = /Invalid account or account\/partition combination/i.test(words)
    ? `; ${user} has no Slurm association here: an admin runs sacctmgr add user ${user} account=${account ?? 'ACCOUNT'} (dopq slurm-setup prints the lines for shares)`
    : '';
  return `Slurm refused it: ${words}${missing}`;
}
