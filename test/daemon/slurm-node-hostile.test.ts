// A user against the node helper on the real single-node cluster: through the real sudo rule,
// from Slurm jobs of their own. Docker's container lives outside the Slurm job's cgroup, so
// node-run must not run a container bigger or longer than the Slurm job it runs in.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { parseConfig } from '../../src/core/config/config.js';
import type { JobRecord, JobSpec } from '../../src/core/job/job.js';
import { parseManifest } from '../../src/core/job/manifest.js';
import { CLI } from '../helpers/cli.js';
import { slurmCluster, SLURM, waitForSlurmJob } from '../helpers/slurm.js';
import { docker, IMAGE, makeSpool, type TestSpool } from '../helpers/spool.js';
import { allowNodeRun, SUDO_HELPER } from '../helpers/sudoers.js';
import { alice, runAs, type UnixUser } from '../helpers/users.js';

test.before(async () => {
  await slurmCluster();
});

/** The job file the daemon writes at intake (jobs/<id>.json, root's, 0600), for `owner`. */
async function writeJob(spool: TestSpool, id: number, owner: UnixUser, manifest: string): Promise<JobSpec> {
  const config = parseConfig(await readFile(spool.configFile, 'utf8'), spool.configFile);
  const parsed = parseManifest(`image: ${IMAGE}\n${manifest}`, config);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const spec: JobSpec = { id, uid: owner.uid, user: owner.name, manifest: parsed.manifest, image: IMAGE };
  await writeFile(path.join(spool.spoolDir, 'jobs', `${id}.json`), JSON.stringify(spec), { mode: 0o600 });
  return spec;
}

/** The daemon's state with these records (what node-run reads of it: the jobs). */
async function writeState(spool: TestSpool, jobs: Partial<JobRecord>[]): Promise<void> {
  const records = jobs.map((job) => ({
    user: 'dopq-alice',
    name: 'x',
    image: IMAGE,
    gpus_requested: 0,
    gpus: [],
    submitted_at: 1,
    time_limit: 600,
    ...job,
  }));
  await writeFile(path.join(spool.spoolDir, 'state', 'state.json'), JSON.stringify({ version: 1, jobs: records }), { mode: 0o644 });
}

/** `user` submits their own Slurm job that starts node-run for dopq job `id`; its id and output once it ended. */
async function ownSlurmJob(
  spool: TestSpool,
  user: UnixUser,
  id: number,
  sbatch: string[],
  scriptEnv = '',
): Promise<{ slurmId: string; output: string }> {
  const output = path.join(spool.shared, `own-${id}-${sbatch.join('_').replace(/[^a-z0-9]+/gi, '')}.out`);
  const script = `${scriptEnv}exec /usr/bin/sudo -n -- ${process.execPath} ${CLI} --config ${spool.configFile} node-run ${id}`;
  const submitted = await runAs(
    user,
    'sbatch',
    [
      '--parsable',
      `--job-name=dopq-${id}`,
      `--account=${SLURM.account}`,
      `--partition=${SLURM.partition}`,
      `--output=${output}`,
      ...sbatch,
      '--wrap',
      script,
    ],
    { env: { PATH: '/usr/local/bin:/usr/bin:/bin' } },
  );
  if (submitted.code !== 0) throw new Error(`sbatch: ${submitted.stderr}`);
  const slurmId = submitted.stdout.trim();
  await waitForSlurmJob(slurmId);
  return { slurmId, output: await readFile(output, 'utf8').catch(() => '') };
}

test("a user's own Slurm job named dopq-ID with less memory or more time than the job's container asks for gets no container", async (t) => {
  const spool = await makeSpool(t, {
    backend: 'slurm',
    slurm: { partition: SLURM.partition, account: SLURM.account, helper: SUDO_HELPER },
    gpus: [],
  });
  t.teardown(allowNodeRun(spool.configFile));
  const a = alice();
  // 256m + 16m shm = 272 MiB, 1 CPU, 10 minutes: what dopq would ask Slurm for.
  await writeJob(spool, 31, a, 'gpus: 0\nmemory: 256m\ncpus: 1\ntime_limit: 10m\ncommand: ["sh", "-c", "echo ran; sleep 1"]\n');

  const cases: [string[], RegExp][] = [
    [['--mem=16M', '-c', '1', '--time=10'], /has 16 MiB, the container takes 272 MiB/],
    [['--mem=272M', '-c', '1', '--time=600'], /may run 600 minutes, the job's time limit is 10/],
  ];
  for (const [sbatch, refusal] of cases) {
    const { slurmId, output } = await ownSlurmJob(spool, a, 31, sbatch);
    t.regex(output, refusal, sbatch.join(' '));
    t.notRegex(await readFile(path.join(spool.spoolDir, 'logs', '31.log'), 'utf8').catch(() => ''), /^ran$/m, 'the container never ran');
    t.deepEqual(await docker.listContainers({ all: true, filters: { label: [`dopq.slurm_job=${slurmId}`] } }), []);
  }
});

test("a user's own Slurm job named dopq-ID, as big as the job, runs nothing: not an ended job again, not beside dopq's submission", async (t) => {
  const spool = await makeSpool(t, {
    backend: 'slurm',
    slurm: { partition: SLURM.partition, account: SLURM.account, helper: SUDO_HELPER },
    gpus: [],
  });
  t.teardown(allowNodeRun(spool.configFile));
  const a = alice();
  const manifest = 'gpus: 0\nmemory: 256m\ncpus: 1\ntime_limit: 10m\ncommand: ["sh", "-c", "echo ran; sleep 1"]\n';
  await writeJob(spool, 32, a, manifest);
  await writeJob(spool, 33, a, manifest);
  await writeState(spool, [
    { id: 32, uid: a.uid, state: 'done', slurm_job_id: 999998 },
    { id: 33, uid: a.uid, state: 'running', slurm_job_id: 999999 },
  ]);
  // Exactly what dopq's own sbatch asks for this job: the allocation check passes.
  const same = ['--mem=272M', '-c', '1', '--time=10'];
  const cases: [number, RegExp][] = [
    [32, /job 32 has ended \(done\)/],
    [33, /job 33 is Slurm job 999999, not \d+/],
  ];
  for (const [id, refusal] of cases) {
    const { slurmId, output } = await ownSlurmJob(spool, a, id, same);
    t.regex(output, refusal);
    t.notRegex(await readFile(path.join(spool.spoolDir, 'logs', `${id}.log`), 'utf8').catch(() => ''), /^ran$/m, 'the container never ran');
    t.deepEqual(await docker.listContainers({ all: true, filters: { label: [`dopq.slurm_job=${slurmId}`] } }), []);
  }
});

test("where a site's sudoers keeps SLURM_CONF, node-run still asks the node's own controller, not the caller's", async (t) => {
  const spool = await makeSpool(t, {
    backend: 'slurm',
    slurm: { partition: SLURM.partition, account: SLURM.account, helper: SUDO_HELPER },
    gpus: [],
  });
  t.teardown(allowNodeRun(spool.configFile, ['SLURM_CONF']));
  const a = alice();
  await writeJob(spool, 34, a, 'gpus: 0\nmemory: 256m\ncpus: 1\ntime_limit: 10m\ncommand: ["sh", "-c", "echo ran"]\n');
  await writeState(spool, [{ id: 34, uid: a.uid, state: 'done', slurm_job_id: 999997 }]);
  // A slurm.conf of alice's would name her own controller, which vouches for anything; one that
  // does not exist shows whose scontrol answered.
  const { output } = await ownSlurmJob(
    spool,
    a,
    34,
    ['--mem=272M', '-c', '1', '--time=10'],
    `SLURM_CONF=${path.join(spool.shared, 'alices-slurm.conf')} `,
  );
  t.regex(output, /job 34 has ended \(done\)/, "the node's controller answered");
});
