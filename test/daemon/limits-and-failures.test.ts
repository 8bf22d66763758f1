// time_limit enforcement and start failures recorded as job failures, never daemon crashes.
import test from 'ava';
import { docker, makeSpool } from '../helpers/spool.js';
import { alice } from '../helpers/users.js';

test('a job past its time limit is stopped and recorded as such', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const daemon = spool.startDaemon();
  const id = await spool.push({ name: 'slow', command: 'echo started; sleep 300', time_limit: '2s' }, alice());
  const next = await spool.push({ name: 'next', command: 'echo next' }, alice());
  const job = await spool.waitForJob(id, ['failed', 'done', 'cancelled']);
  t.is(job.state, 'failed');
  t.is(job.reason, 'time-limit');
  const ran = Date.parse(job.finished_at!) - Date.parse(job.started_at!);
  t.true(ran >= 2000, `ran ${ran} ms, at least its limit`);
  t.regex((await spool.cli(['log', String(id)])).stdout, /started/);
  t.is((await spool.waitForJob(next, ['done'])).state, 'done', 'the GPU went to the next job');
  await daemon.stop();
});

test('a missing image fails the job with Docker’s reason; the daemon carries on', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const daemon = spool.startDaemon();
  const bad = await spool.push({ name: 'noimage', image: 'dopq-no-such-image:1' }, alice());
  const good = await spool.push({ name: 'good', command: 'true' }, alice());
  const failed = await spool.waitForJob(bad, ['failed']);
  t.is(failed.reason, 'start-failed');
  t.regex(failed.message ?? '', /No such image|not found/i);
  t.deepEqual(failed.gpus, [], 'a job that never started holds no GPU');
  t.is((await spool.waitForJob(good, ['done'])).state, 'done');
  t.is(daemon.child.exitCode, null, 'daemon still running');
  await daemon.stop();
});

test("without the NVIDIA runtime, device-requests jobs are held with a clear reason: the host's fault, never the job's", async (t) => {
  const spool = await makeSpool(t, { gpus: [0, 1], gpu_assignment: 'device-requests', start_retries: 2 });
  const daemon = spool.startDaemon();
  const gpu = await spool.push({ name: 'needs-driver', command: 'true', gpus: 1 });
  const cpu = await spool.push({ name: 'cpu-only', command: 'echo "nv=$NVIDIA_VISIBLE_DEVICES"', gpus: 0 });
  const held = await spool.waitFor('the GPU job to be held', async () => {
    const job = await spool.job(gpu);
    return job?.held_by ? job : undefined;
  });
  t.is(held.state, 'queued', 'never failed: the driver is missing on the host');
  t.is(held.held_by, 'dopq');
  t.deepEqual(held.gpus, [], 'it holds no GPU while held');
  t.regex(held.message ?? '', /held after 2 failed starts[\s\S]*could not select device driver "nvidia"/);
  t.is((await spool.waitForJob(cpu, ['done'])).state, 'done', 'a job without GPUs needs no driver');
  t.regex((await spool.cli(['log', String(cpu)])).stdout, /nv=void/, 'no GPU reachable through the runtime default');
  await daemon.stop();
});

test('a job over its memory limit is recorded as oom-killed', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const daemon = spool.startDaemon();
  const id = await spool.push(
    { name: 'greedy', memory: '16m', command: 'x=$(head -c 60000000 /dev/zero | tr "\\0" a); echo ${#x}' },
    alice(),
  );
  const job = await spool.waitForJob(id, ['failed', 'done']);
  t.is(job.state, 'failed');
  t.is(job.exit_code, 137);
  // The engine's OOMKilled flag is unreliable on some kernels (cgroup v2): accept a plain 137.
  t.true(job.reason === 'oom-killed' || job.reason === 'exited', `reason ${job.reason}`);
  if (job.reason === 'oom-killed') t.regex(job.message ?? '', /out of memory/);
  await daemon.stop();
});

test('keep_containers: finished and failed-to-start containers stay for docker inspect, then go', async (t) => {
  const spool = await makeSpool(t, { gpus: ['GPU-x'], keep_containers: '15s', reconcile_interval: '1s' });
  const daemon = spool.startDaemon();
  const done = await spool.push({ name: 'done', command: 'true', gpus: 0 }, alice());
  // The job's own fault at start (no such command): it fails, and its container is kept.
  const failed = await spool.push({ name: 'no-command', command: ['/no/such/command'], gpus: 0 }, alice());
  const ended = await Promise.all([spool.waitForJob(done, ['done']), spool.waitForJob(failed, ['failed'])]);
  const containers = async (id: number) => docker.listContainers({ all: true, filters: { label: spool.labels(`dopq.job=${id}`) } });
  t.is((await containers(done)).length, 1, 'kept after it ended');
  t.is((await containers(failed)).length, 1, 'kept after its start failed');
  await spool.inspectContainers();
  await spool.waitFor('both to be removed', async () => (await containers(done)).length + (await containers(failed)).length === 0, 60_000);
  const gone = Date.now();
  for (const job of ended) t.true(gone - Date.parse(job.finished_at!) >= 15_000, 'not before keep_containers');
  await daemon.stop();
});
