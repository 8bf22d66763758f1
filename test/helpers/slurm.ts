// A real single-node Slurm for tests: scripts/slurm-cluster.sh, brought up once per test process,
// with dopq-alice and dopq-bob in account `dopq`. Also small wrappers for Slurm's commands.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { promisify } from 'node:util';
import { alice, bob } from './users.js';

const run = promisify(execFile);

/** scripts/slurm-cluster.sh, next to dist/ in the checkout and in the suite's copy of it. */
export const SLURM_SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../scripts/slurm-cluster.sh');

/** What the script sets up (its defaults). */
export const SLURM = { cluster: 'dopq', account: 'dopq', partition: 'dopq', gpus: 4 } as const;

let up: Promise<void> | undefined;

/** The cluster is up with the test users in accounting; the script is idempotent and flock'ed, so parallel test files are fine. */
export function slurmCluster(): Promise<void> {
  up ??= (async () => {
    const users = [alice().name, bob().name];
    await run('bash', [SLURM_SCRIPT, 'add-user', ...users], { timeout: 300_000 });
  })();
  return up;
}

/** Run a Slurm command as root; resolves with stdout, rejects with what it printed on stderr. */
export async function slurm(command: string, args: string[]): Promise<string> {
  try {
    return (await run(command, args, { timeout: 60_000 })).stdout;
  } catch (error) {
    const failed = error as Error & { stderr?: string };
    throw new Error(`${command} ${args.join(' ')}: ${failed.stderr?.trim() || failed.message}`, { cause: error });
  }
}

/** The job's state as sacct has it (accounting, so it is there after the job left squeue). */
export async function sacctState(jobId: string): Promise<string> {
  return (await slurm('sacct', ['-n', '-X', '-P', '-j', jobId, '-o', 'state'])).trim();
}

/** Wait until the job has ended (a terminal state in sacct); resolves with that state. Other files' jobs share the node: be patient. */
export async function waitForSlurmJob(jobId: string, attempts = 600): Promise<string> {
  for (let i = 0; i < attempts; i++) {
    const state = await sacctState(jobId).catch(() => '');
    if (/^(COMPLETED|FAILED|CANCELLED|TIMEOUT|OUT_OF_MEMORY|NODE_FAIL|PREEMPTED|BOOT_FAIL|DEADLINE)/.test(state)) return state;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`Slurm job ${jobId} did not end`);
}

/** Forget these users' fair-share usage (account `dopq`), so that a fair-share test starts even. */
export async function resetSlurmUsage(...users: string[]): Promise<void> {
  await run('bash', [SLURM_SCRIPT, 'reset-usage', ...users], { timeout: 60_000 });
}

/** Where the test cluster's node epilog writes what each `dopq node-epilog` printed. */
export const EPILOG_LOG = '/var/log/slurm/dopq-epilog.log';

/**
 * Slurm's node epilog also runs `dopq` (this build) `node-epilog` for `configFile`: an entry of its
 * own (slurm-cluster.sh epilog), so test files that run at once never overwrite each other's.
 * Resolves with the function that takes the entry out again (a teardown).
 */
export async function epilogFor(dopq: string, configFile: string): Promise<() => Promise<void>> {
  await run('bash', [SLURM_SCRIPT, 'epilog', dopq, configFile], { timeout: 60_000 });
  return async () => {
    await run('bash', [SLURM_SCRIPT, 'epilog-remove', configFile], { timeout: 60_000 });
  };
}
