// `dopq node-run` and `dopq node-epilog`, the Slurm node's root helpers, against the real engine
// and real users, without Slurm: run as its batch script would run them, with Slurm's variables.
import { spawn } from 'node:child_process';
import { chown, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { realpathSync } from 'node:fs';
import test from 'ava';
import { parseConfig } from '../../src/core/config/config.js';
import { parseManifest } from '../../src/core/job/manifest.js';
import type { JobSpec } from '../../src/core/job/job.js';
import { instanceId } from '../../src/daemon/context.js';
import { CLI, runCli } from '../helpers/cli.js';
import { hardeningViolations } from '../helpers/hardening.js';
import { docker, IMAGE, makeSpool, type TestSpool } from '../helpers/spool.js';
import { alice, bob, type UnixUser } from '../helpers/users.js';

/** The job file the daemon writes at intake (jobs/<id>.json, root's, 0600), for `owner`. */
async function writeJob(spool: TestSpool, id: number, owner: UnixUser, manifest: string, configText?: string): Promise<JobSpec> {
  const config = parseConfig(configText ?? (await readFile(spool.configFile, 'utf8')), spool.configFile);
  const parsed = parseManifest(`image: ${IMAGE}\n${manifest}`, config);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const spec: JobSpec = { id, uid: owner.uid, user: owner.name, manifest: parsed.manifest, image: IMAGE };
  await writeFile(path.join(spool.spoolDir, 'jobs', `${id}.json`), JSON.stringify(spec), { mode: 0o600 });
  return spec;
}

/** Only what Slurm (and sudo) would give the helper, none of the test runner's own. */
function slurmEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], NO_COLOR: '1', ...extra };
  return env;
}

function nodeRun(spool: TestSpool, id: number, env: Record<string, string>) {
  const child = spawn(process.execPath, [CLI, '--config', spool.configFile, 'node-run', String(id)], {
    env: slurmEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stderr })));
  return { child, done };
}

const slurmJobContainers = async (slurmJob: string) =>
  docker.listContainers({ all: true, filters: { label: [`dopq.slurm_job=${slurmJob}`] } });

async function runningContainer(spool: TestSpool, slurmJob: string) {
  return spool.waitFor(`the container of Slurm job ${slurmJob}`, async () => {
    const [found] = await slurmJobContainers(slurmJob);
    return found?.State === 'running' ? docker.getContainer(found.Id).inspect() : undefined;
  });
}

const logOf = (spool: TestSpool, id: number) => path.join(spool.spoolDir, 'logs', `${id}.log`);

test("node-run runs alice's job as the single-host backend would: hardened, as her, on Slurm's GPUs, output in her log, exit code back", async (t) => {
  const spool = await makeSpool(t);
  const a = alice();
  const gate = spool.gate('node-run');
  await writeJob(
    spool,
    5,
    a,
    `gpus: 2\nmounts: ${JSON.stringify(gate.mounts)}\ncommand: ["sh", "-c", "echo hello from 5; id -u; ${gate.wait}; exit 3"]\n`,
  );
  const run = nodeRun(spool, 5, { SLURM_JOB_ID: '9001', SLURM_JOB_GPUS: '1,3', CUDA_VISIBLE_DEVICES: '1,3', SLURM_JOB_NAME: 'dopq-5' });
  const info = await runningContainer(spool, '9001');
  t.deepEqual(hardeningViolations(info, { allowedRoots: [realpathSync(spool.dir)], networks: ['none'] }), []);
  t.is(info.Config.User, `${a.uid}:${a.gid}`);
  t.true(info.Name.startsWith(`/dopq-${instanceId(realpathSync(spool.spoolDir))}-5`), info.Name);
  t.like(info.Config.Labels, { 'dopq.slurm_job': '9001', 'dopq.job': '5', 'dopq.uid': String(a.uid), 'dopq.user': 'dopq-alice' });
  const env = info.Config.Env ?? [];
  t.true(env.includes('DOPQ_GPUS=1,3') && env.includes('NVIDIA_VISIBLE_DEVICES=1,3'), env.join(' '));
  t.false(env.some((e) => e.startsWith('CUDA_VISIBLE_DEVICES=') || e.startsWith('SLURM_')));
  t.is(info.HostConfig.Memory, 128 * 1024 ** 2);
  t.is(info.HostConfig.NanoCpus, 0.5e9);
  await gate.open();
  const result = await run.done;
  t.is(result.code, 3, result.stderr);
  t.is(await readFile(logOf(spool, 5), 'utf8'), `hello from 5\n${a.uid}\n`);
  t.is((await stat(logOf(spool, 5))).uid, a.uid);
  t.deepEqual(await slurmJobContainers('9001'), [], 'the container is gone once the job ended');
});

test('SIGTERM (a cancel, the time limit) stops the container with its grace, removes it, and gives its exit code', async (t) => {
  const spool = await makeSpool(t);
  const a = alice();
  // What Slurm appended to the log before (a line of its own) is kept.
  await writeFile(logOf(spool, 6), 'slurm says hi\n');
  await writeJob(
    spool,
    6,
    a,
    `gpus: 1\ncommand: ["sh", "-c", "trap 'echo stopping; exit 7' TERM; echo ready; while true; do sleep 0.1; done"]\n`,
  );
  const run = nodeRun(spool, 6, { SLURM_JOB_ID: '9002', SLURM_JOB_GPUS: '2' });
  await runningContainer(spool, '9002');
  await spool.waitFor('the job to be ready', async () => (await readFile(logOf(spool, 6), 'utf8').catch(() => '')).includes('ready'));
  run.child.kill('SIGTERM');
  const result = await run.done;
  t.is(result.code, 7, result.stderr);
  t.is(await readFile(logOf(spool, 6), 'utf8'), 'slurm says hi\nready\nstopping\n');
  t.deepEqual(await slurmJobContainers('9002'), []);
});

test("node-epilog removes what an ended Slurm job left, and nothing else: not another job's, not a look-alike", async (t) => {
  const spool = await makeSpool(t);
  const instance = instanceId(realpathSync(spool.spoolDir));
  const make = async (name: string, slurmJob: string) => {
    const container = await docker.createContainer({ name, Image: IMAGE, Cmd: ['sleep', '300'], Labels: { 'dopq.slurm_job': slurmJob } });
    t.teardown(() => container.remove({ force: true }).catch(() => undefined));
    await container.start();
    return container.id;
  };
  const suffix = `${process.pid}-${Date.now()}`;
  const leftover = await make(`dopq-${instance}-77`, '9003');
  const otherJob = await make(`dopq-${instance}-78`, '9004');
  const lookAlike = await make(`not-dopq-${suffix}`, '9003');
  const result = await runCli(['--config', spool.configFile, 'node-epilog'], { env: slurmEnv({ SLURM_JOB_ID: '9003' }) });
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /removed container \w{12} of Slurm job 9003/);
  const left = (await docker.listContainers({ all: true })).map((c) => c.Id);
  t.false(left.includes(leftover));
  t.true(left.includes(otherJob));
  t.true(left.includes(lookAlike));
  const missing = await runCli(['--config', spool.configFile, 'node-epilog'], { env: slurmEnv({ SLURM_JOB_ID: '9003; rm -rf /' }) });
  t.is(missing.code, 64, missing.stderr);
});

test('node-run refuses, before any container exists: a mount the config no longer allows, the wrong GPU count, another caller, a non-root user', async (t) => {
  const spool = await makeSpool(t);
  const [a, b] = [alice(), bob()];
  // Validated under a looser config at push; this node's config allows mounts only under the test's folder.
  const loose = `spool: ./spool\ngpus: [0, 1]\ngpu_assignment: env\nmounts: {allowed_roots: [/etc]}\n`;
  await writeJob(spool, 8, a, 'gpus: 1\nmounts: ["/etc:/host-etc:ro"]\ncommand: ["cat", "/host-etc/shadow"]\n', loose);
  const mount = await nodeRun(spool, 8, { SLURM_JOB_ID: '9005', SLURM_JOB_GPUS: '0' }).done;
  t.is(mount.code, 65, mount.stderr);
  t.regex(mount.stderr, /job 8 \(checked again against .*dopq\.yaml\)/);
  t.regex(mount.stderr, /mounts\[0\]: the source must be under .*, got \/etc/);

  await writeJob(spool, 9, a, 'gpus: 2\ncommand: ["true"]\n');
  const gpus = await nodeRun(spool, 9, { SLURM_JOB_ID: '9006', SLURM_JOB_GPUS: '0' }).done;
  t.is(gpus.code, 78, gpus.stderr);
  t.regex(gpus.stderr, /Slurm gave the job 1 GPU \(0\), it asked for 2/);

  const bobs = await nodeRun(spool, 9, { SLURM_JOB_ID: '9007', SLURM_JOB_GPUS: '0,1', SUDO_UID: String(b.uid) }).done;
  t.is(bobs.code, 77, bobs.stderr);
  t.regex(bobs.stderr, new RegExp(`uid ${b.uid} may not run job 9: it is dopq-alice's`));

  // Through sudo as alice herself: Slurm's variables are hers to forge, so the controller must
  // confirm them; no controller that knows the job, no container.
  const forged = await nodeRun(spool, 9, { SLURM_JOB_ID: '9009', SLURM_JOB_GPUS: '0,1', SUDO_UID: String(a.uid) }).done;
  t.true(forged.code === 69 || forged.code === 77, `${forged.code}: ${forged.stderr}`);
  t.regex(forged.stderr, /scontrol could not show the job|Slurm has no job 9009|not dopq-9/);

  // A config its caller could write (sudo lets them name any --config) is never taken.
  const theirs = path.join(spool.dir, 'theirs.yaml');
  await writeFile(theirs, (await readFile(spool.configFile, 'utf8')).replace(/allowed_roots:.*\n(\s+- .*\n)*/, 'allowed_roots: [/]\n'));
  await chown(theirs, a.uid, a.gid);
  const own = await runCli(['--config', theirs, 'node-run', '9'], { env: slurmEnv({ SLURM_JOB_ID: '9010', SLURM_JOB_GPUS: '0,1' }) });
  t.is(own.code, 78, own.stderr);
  t.regex(own.stderr, /theirs\.yaml/);

  const outside = await nodeRun(spool, 9, {}).done;
  t.is(outside.code, 64, outside.stderr);
  t.regex(outside.stderr, /SLURM_JOB_ID is not set/);

  const asAlice = await runCli(['--config', spool.configFile, 'node-run', '9'], {
    user: a,
    env: { SLURM_JOB_ID: '9008', SLURM_JOB_GPUS: '0,1' },
  });
  t.is(asAlice.code, 77, asAlice.stderr);
  t.regex(asAlice.stderr, /node-run: runs only as root/);

  for (const slurmJob of ['9005', '9006', '9007', '9008', '9009', '9010']) t.deepEqual(await slurmJobContainers(slurmJob), [], slurmJob);
});
