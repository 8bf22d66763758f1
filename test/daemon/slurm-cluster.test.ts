// The real single-node Slurm that the Slurm backend's tests run on (scripts/slurm-cluster.sh), and
// `dopq slurm-setup`'s lines applied to it and read back; `dopq doctor`'s Slurm checks against it.
import test from 'ava';
import { mkdtemp, readFile, writeFile, chmod, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { runCli } from '../helpers/cli.js';
import { resetSlurmUsage, SLURM, SLURM_SCRIPT, slurm, slurmCluster, waitForSlurmJob } from '../helpers/slurm.js';
import { alice, bob, ensureUser, runAs } from '../helpers/users.js';
import { slurmFileName } from '../../src/core/slurm/sbatch.js';

const run = promisify(execFile);

test.before(async () => {
  await slurmCluster();
});

test.serial('the script brings up a node with 4 GPUs, and a second call keeps it', async (t) => {
  const node = (await slurm('sinfo', ['-h', '-N', '-o', '%N|%T|%G', '-p', SLURM.partition])).trim();
  t.regex(node, /^[^|]+\|(idle|mixed|allocated|completing)\|gpu:4$/);
  const again = await run('bash', [SLURM_SCRIPT, 'up'], { timeout: 120_000 });
  t.regex(again.stderr, /ready with gpu:4/);
  t.notRegex(again.stderr, /starting/);
});

test.serial('sbatch --uid runs the job as alice with a GPU of its own', async (t) => {
  t.timeout(175_000); // other files' jobs may hold the GPUs for a while
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dopq-slurm-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await chmod(dir, 0o777);
  const user = alice();
  const out = path.join(dir, 'out.txt');
  const submitted = await slurm('sbatch', [
    '--parsable',
    `--uid=${user.uid}`,
    `--gid=${user.gid}`,
    '--gres=gpu:1',
    `-A`,
    SLURM.account,
    '-J',
    'dopq-cluster-test',
    '-o',
    out,
    '--wrap',
    'echo "gpus=$SLURM_JOB_GPUS cuda=$CUDA_VISIBLE_DEVICES"; id -u',
  ]);
  const jobId = submitted.trim().split(';')[0]!;
  t.is(await waitForSlurmJob(jobId), 'COMPLETED');
  const [gpuLine, uidLine] = (await readFile(out, 'utf8')).trim().split('\n');
  // Without device cgroups (TaskPlugin=task/none) Slurm does not renumber: CUDA_VISIBLE_DEVICES is the node's index.
  t.regex(gpuLine ?? '', /^gpus=([0-3]) cuda=\1$/, `${jobId}: ${gpuLine}`);
  t.is(uidLine, String(user.uid));
  const accounted = (await slurm('sacct', ['-n', '-X', '-P', '-j', jobId, '-o', 'user,alloctres'])).trim();
  t.regex(accounted, new RegExp(`^${user.name}\\|.*gres/gpu=1`));
});

test.serial('sbatch writes to a log whose path holds % or a backslash at that very path, as slurmFileName writes it', async (t) => {
  t.timeout(175_000);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dopq-slurm-100%j%u-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await chmod(dir, 0o777);
  const user = alice();
  const logs = [path.join(dir, '%x-%%.log'), path.join(dir, 'a\\b%j.log')];
  const jobs = [];
  for (const log of logs) {
    const submitted = await slurm('sbatch', [
      '--parsable',
      `--uid=${user.uid}`,
      `--gid=${user.gid}`,
      `-A`,
      SLURM.account,
      `--output=${slurmFileName(log)}`,
      '--open-mode=append',
      '--wrap',
      'echo ran',
    ]);
    jobs.push(submitted.trim().split(';')[0]!);
  }
  for (const [i, jobId] of jobs.entries()) {
    t.is(await waitForSlurmJob(jobId), 'COMPLETED');
    t.is(await readFile(logs[i]!, 'utf8'), 'ran\n', logs[i]);
  }
});

test.serial("slurm-setup's lines, applied, are what sshare and sacctmgr show", async (t) => {
  // An account of its own: the shares and the cap must not leak into the backend's other tests.
  const account = 'dopq-setup-test';
  const users = [alice().name, bob().name];
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dopq-slurm-setup-'));
  const cleanup = async () => {
    await slurm('sacctmgr', ['-i', 'delete', 'user', 'where', `account=${account}`]).catch(() => '');
    await slurm('sacctmgr', ['-i', 'delete', 'account', account]).catch(() => '');
    await slurm('sacctmgr', ['-i', 'delete', 'qos', 'dopq']).catch(() => '');
    await rm(dir, { recursive: true, force: true });
  };
  t.teardown(cleanup);
  await slurm('sacctmgr', ['-i', 'add', 'account', account, `cluster=${SLURM.cluster}`]).catch(() => '');
  for (const user of users) await slurm('sacctmgr', ['-i', 'add', 'user', user, `account=${account}`]).catch(() => '');
  const config = path.join(dir, 'dopq.yaml');
  await writeFile(
    config,
    [
      `spool: ${dir}/spool`,
      'backend: slurm',
      `slurm: {account: ${account}, partition: ${SLURM.partition}}`,
      'penalty: {half_life: 36h}',
      `shares: {${users[0]}: 3, ${users[1]}: 2}`,
      'limits: {per_user: {gpus: 2}}',
      '',
    ].join('\n'),
  );
  const printed = await runCli(['--config', config, 'slurm-setup']);
  t.is(printed.code, 0, printed.stderr);
  t.regex(printed.stdout, /^# {3}PriorityDecayHalfLife=1-12:00:00$/m);
  t.regex(printed.stdout, /^# {3}PriorityType=priority\/multifactor$/m);
  await run('sh', ['-c', printed.stdout], { timeout: 120_000 });
  const shares = await slurm('sshare', ['-n', '-P', '-A', account, '-a', '-o', 'account,user,rawshares']);
  const shareOf = (user: string) =>
    shares
      .split('\n')
      .find((line) => line.trim().startsWith(`${account}|${user}|`))
      ?.split('|')[2];
  t.is(shareOf(users[0]!), '3');
  t.is(shareOf(users[1]!), '2');
  t.is((await slurm('sacctmgr', ['-n', '-P', 'show', 'qos', 'dopq', 'format=maxtrespu'])).trim(), 'gres/gpu=2');
  const qos = await slurm('sacctmgr', [
    '-n',
    '-P',
    'show',
    'assoc',
    'where',
    `account=${account}`,
    `user=${users[0]}`,
    'format=qos,defaultqos',
  ]);
  const [list = '', byDefault] = qos.trim().split('|');
  // dopq's QOS alone: with `normal` still allowed, `sbatch --qos=normal` (or scontrol update on a
  // pending dopq job) would leave the per-user GPU cap behind.
  t.is(list, 'dopq', qos);
  t.is(byDefault, 'dopq');
  const around = await runAs(
    alice(),
    'sbatch',
    ['--parsable', '--hold', `--account=${account}`, '--qos=normal', '--gres=gpu:3', '--output=/dev/null', '--wrap', 'true'],
    { env: { PATH: '/usr/local/bin:/usr/bin:/bin' } },
  );
  if (around.code === 0) await slurm('scancel', [around.stdout.trim()]);
  t.not(around.code, 0, 'a job of the account outside the cap QOS');
  t.regex(around.stderr, /Invalid qos/);
});

test.serial("doctor checks the cluster: controller, partition's GPUs, priority and accounting", async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dopq-slurm-doctor-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = path.join(dir, 'dopq.yaml');
  // The test cluster decays usage with a 10-minute half-life (scripts/slurm-cluster.sh).
  await writeFile(config, `spool: ${dir}/spool\nbackend: slurm\nslurm: {partition: ${SLURM.partition}}\npenalty: {half_life: 10m}\n`);
  const doctor = await runCli(['--config', config, 'doctor', '--json']);
  const checks = JSON.parse(doctor.stdout) as { name: string; status: string; detail: string }[];
  const status = Object.fromEntries(checks.map((c) => [c.name, c.status]));
  t.is(status['slurm-controller'], 'ok');
  t.is(status['slurm-partition'], 'ok');
  t.is(status['slurm-priority'], 'ok');
  t.is(status['slurm-accounting'], 'ok');
  t.is(status['engine'], undefined, 'no engine check on the daemon host with backend: slurm');
  await writeFile(config, `spool: ${dir}/spool\nbackend: slurm\nslurm: {partition: nowhere}\n`);
  const wrong = JSON.parse((await runCli(['--config', config, 'doctor', '--json'])).stdout) as {
    name: string;
    status: string;
    detail: string;
  }[];
  const partition = wrong.find((c) => c.name === 'slurm-partition');
  t.is(partition?.status, 'fail');
  t.regex(partition?.detail ?? '', /no partition nowhere \(partitions: dopq\)/);
  // Its default half-life (7d) is not the cluster's.
  t.is(wrong.find((c) => c.name === 'slurm-priority')?.status, 'warn');
});

test.serial("fair-share is Slurm's: after A used the GPUs, B's later job goes first", async (t) => {
  // Users of its own: other files' tests run at the same time and use alice's and bob's usage.
  const [a, b] = [ensureUser('dopq-fs-a'), ensureUser('dopq-fs-b')];
  await run('bash', [SLURM_SCRIPT, 'add-user', a.name, b.name], { timeout: 120_000 });
  await resetSlurmUsage(a.name, b.name);
  t.teardown(() => resetSlurmUsage(a.name, b.name));
  const submit = async (user: { uid: number; gid: number } | null, seconds: number) =>
    (
      await slurm('sbatch', [
        '--parsable',
        ...(user ? [`--uid=${user.uid}`, `--gid=${user.gid}`] : []),
        '--gres=gpu:4',
        '-o',
        '/dev/null',
        '--wrap',
        `sleep ${seconds}`,
      ])
    )
      .trim()
      .split(';')[0]!;
  t.timeout(175_000);
  t.is(await waitForSlurmJob(await submit(a, 3)), 'COMPLETED');
  // Slurm folds usage into the fair-share factors every PriorityCalcPeriod (1 minute, its minimum).
  const factors = async () =>
    Object.fromEntries(
      (await slurm('sshare', ['-n', '-P', '-A', SLURM.account, '-u', `${a.name},${b.name}`, '-o', 'user,fairshare']))
        .split('\n')
        .map((line) => line.trim().split('|'))
        .filter(([user]) => user),
    ) as Record<string, string>;
  let seen: Record<string, string> = {};
  for (let i = 0; i < 150; i++) {
    seen = await factors();
    if (Number(seen[a.name]) < Number(seen[b.name])) break;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  t.true(Number(seen[a.name]) < Number(seen[b.name]), JSON.stringify(seen));
  // Root holds every GPU while A, then B, queue a job each: Slurm orders them by fair-share alone.
  const blocker = await submit(null, 120);
  t.teardown(() => slurm('scancel', [blocker]).catch(() => ''));
  const first = await submit(a, 1);
  const second = await submit(b, 1);
  const priorities = Object.fromEntries(
    (await slurm('squeue', ['-h', '-j', `${first},${second}`, '-o', '%i %Q']))
      .trim()
      .split('\n')
      .map((line) => line.trim().split(' ')),
  );
  t.true(Number(priorities[second]) > Number(priorities[first]), JSON.stringify(priorities));
  await slurm('scancel', [blocker]);
  t.is(await waitForSlurmJob(first), 'COMPLETED');
  t.is(await waitForSlurmJob(second), 'COMPLETED');
  const times = await slurm('sacct', ['-n', '-X', '-P', '-j', `${first},${second}`, '-o', 'jobid,start,end']);
  const [, firstStart] = times
    .split('\n')
    .find((line) => line.startsWith(`${first}|`))!
    .split('|');
  const [, , secondEnd] = times
    .split('\n')
    .find((line) => line.startsWith(`${second}|`))!
    .split('|');
  t.true(secondEnd! <= firstStart!, times);
});
