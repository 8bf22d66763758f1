// The Slurm node epilog is the second net: when `dopq node-run` dies too hard to stop its
// container (SIGKILL), the real cluster's Epilog (scripts/slurm-cluster.sh, pointed at this build
// and this spool's config) removes the container once Slurm ends the job.
//
// The epilog is shared by every test file that runs at once: each points it at its own config with
// an entry of its own (slurm-cluster.sh epilog / epilog-remove, under the script's lock), and each
// node-epilog removes only its own instance's containers, so no lock is held across the test and
// nothing of another file's is restored or overwritten.
import { spawnSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import test from 'ava';
import { CLI } from '../helpers/cli.js';
import { EPILOG_LOG, epilogFor, slurmCluster, SLURM, waitForSlurmJob } from '../helpers/slurm.js';
import { allowNodeRun, SUDO_HELPER } from '../helpers/sudoers.js';
import { docker, makeSpool } from '../helpers/spool.js';
import { alice } from '../helpers/users.js';

test.before(async () => {
  await slurmCluster();
});

/** The node-run process (node itself, not the sudo above it) of job `id` under `configFile`. */
async function nodeRunPid(configFile: string, id: number): Promise<number | undefined> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = await readFile(`/proc/${entry}/cmdline`, 'utf8').then(
      (text) => text.split('\0'),
      (): string[] => [],
    );
    const at = argv.indexOf('node-run');
    if (argv[0] === process.execPath && at > 0 && argv[at + 1] === String(id) && argv.includes(configFile)) return Number(entry);
  }
  return undefined;
}

test('a node-run killed hard leaves its container; the Slurm epilog removes it when the job ends', async (t) => {
  t.timeout(290_000); // other files' jobs may hold the GPUs for a while
  const spool = await makeSpool(t, {
    backend: 'slurm',
    slurm: { partition: SLURM.partition, account: SLURM.account, helper: SUDO_HELPER, term_grace: '5s' },
    gpus: [],
  });
  t.teardown(allowNodeRun(spool.configFile));
  // Registered after makeSpool's cleanup, so it runs before it (ava's teardowns go last to first).
  t.teardown(await epilogFor(CLI, spool.configFile));
  const daemon = spool.startDaemon();
  const id = await spool.push({ name: 'orphan', gpus: 1, command: 'echo started; sleep 600' }, alice());
  const slurmId = (await spool.waitForJob(id, ['running'])).slurm!.job_id;
  t.teardown(() => void spawnSync('scancel', [String(slurmId)])); // a test failed early: the job sleeps no longer
  const filters = { label: spool.labels(`dopq.slurm_job=${slurmId}`) };
  const container = await spool.waitFor('its container to run', async () => {
    const [found] = await docker.listContainers({ all: true, filters });
    return found?.State === 'running' ? found.Id : undefined;
  });
  const pid = await spool.waitFor('its node-run process', () => nodeRunPid(spool.configFile, id));

  // SIGKILL: node-run cannot stop or remove anything; the batch script (sudo, exec'd) ends with it.
  const killedAt = Date.now();
  process.kill(pid, 'SIGKILL');
  const state = await waitForSlurmJob(String(slurmId));
  t.not(state, 'COMPLETED', 'the job ended by the kill');
  await spool.waitFor('the epilog to remove the container', async () => (await docker.listContainers({ all: true, filters })).length === 0);
  t.log(`Slurm job ${slurmId} ended ${state}; its container was gone ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill`);
  // It was the epilog (node-run was dead, the daemon leaves containers to the node): it says so.
  const said = await readFile(EPILOG_LOG, 'utf8');
  t.true(said.includes(`removed container ${container.slice(0, 12)} of Slurm job ${slurmId}\n`), said.slice(-2000));
  t.like(await spool.waitForJob(id, ['failed', 'done', 'cancelled']), { state: 'failed' });
  await daemon.stop();
});
