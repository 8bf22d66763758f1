// A job's life through the real daemon loop, with the engine in memory: ends, exit codes, time
// limits, one GPU shared by two jobs, and whose file a job is. Orders come from events (an
// engine call, a state saved), never from waiting a while.
import { link, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { encodeEnvelope } from '../../src/core/job/envelope.js';
import { INTAKE_SUFFIX } from '../../src/io/spool/spool.js';
import { readState } from '../../src/io/spool/state-store.js';
import { startInMemoryDaemon } from './in-memory-daemon.js';

test('a job runs to done: its exit code is recorded, and its container goes once that is saved', async (t) => {
  const d = await startInMemoryDaemon(t);
  const id = await d.push({ name: 'ok' });
  await d.engine.called('startCreated', id);
  d.engine.exit(id, 0, 'hello\n');
  await d.engine.called('remove', id);
  const job = await d.job(id);
  t.is(job?.state, 'done');
  t.is(job?.exit_code, 0);
  t.is(job?.attempt ?? 1, 1);
});

test('a non-zero exit fails the job with its exit code', async (t) => {
  const d = await startInMemoryDaemon(t);
  const id = await d.push({ name: 'bad' });
  await d.engine.called('startCreated', id);
  d.engine.exit(id, 3);
  const job = await d.waitForJob(id, ['done', 'failed']);
  t.is(job.state, 'failed');
  t.is(job.reason, 'exited');
  t.is(job.exit_code, 3);
});

test('write-ahead: the placement is on disk before the create, the container ID before the start', async (t) => {
  const d = await startInMemoryDaemon(t);
  const seen: { create?: string; start?: string } = {};
  const { create, startCreated } = d.engine;
  d.engine.create = async (spec) => {
    const job = (await readState(d.spool.state)).jobs.find((j) => String(j.id) === spec.Labels['dopq.job']);
    seen.create = `${job?.state} on [${job?.gpus.join(',')}] container ${job?.container_id ?? 'none'}`;
    return create.call(d.engine, spec);
  };
  d.engine.startCreated = async (containerId: string) => {
    const job = (await readState(d.spool.state)).jobs.find((j) => j.container_id === containerId);
    seen.start = `${job?.state} with its container ${job ? 'recorded' : 'unknown'}`;
    return startCreated.call(d.engine, containerId);
  };
  const id = await d.push({ name: 'ahead' });
  await d.engine.called('startCreated', id);
  t.is(seen.create, 'running on [0] container none');
  t.is(seen.start, 'running with its container recorded');
});

test('a job over its time limit is stopped and failed as time-limit', async (t) => {
  const d = await startInMemoryDaemon(t);
  const id = await d.push({ name: 'slow', time_limit: '10m' });
  await d.engine.called('startCreated', id);
  // Running as saved; then the clock passes the limit, and the next pass must stop it.
  await d.waitFor('the start to be saved', async () => (await d.job(id))?.started_at !== undefined && (await d.job(id))?.container_id);
  d.advance(11 * 60_000);
  await d.engine.called('stop', id);
  const job = await d.waitForJob(id, ['done', 'failed', 'cancelled']);
  t.is(job.state, 'failed');
  t.is(job.reason, 'time-limit');
});

test('two jobs on one GPU never overlap: the second starts once the first has ended', async (t) => {
  const d = await startInMemoryDaemon(t, { gpus: [0] });
  const first = await d.push({ name: 'first' });
  await d.engine.called('startCreated', first);
  const second = await d.push({ name: 'second' });
  await d.waitForJob(second, ['queued']);
  // Two more saved passes with the second job known: it had every chance to start, and did not.
  for (let pass = 0; pass < 2; pass++) {
    const beat = (await d.state()).daemon?.heartbeat_at ?? 0;
    await d.waitFor('another pass', async () => ((await d.state()).daemon?.heartbeat_at ?? 0) > beat);
  }
  t.is((await d.job(second))?.state, 'queued');
  t.false(d.engine.calls.some((call) => call.jobId === second && call.method === 'create'));
  d.engine.exit(first, 0);
  await d.engine.called('startCreated', second);
  d.engine.exit(second, 0);
  t.is((await d.waitForJob(second, ['done', 'failed'])).state, 'done');
  t.deepEqual(d.engine.overlaps, []);
  const [a, b] = [await d.job(first), await d.job(second)];
  t.is(a?.state, 'done');
  t.true(b!.started_at! >= a!.finished_at!, 'the second started after the first had finished');
});

test("ownership is the file's: a non-root user's own job file is taken in and run as theirs", async (t) => {
  const d = await startInMemoryDaemon(t);
  const id = await d.push({ name: 'theirs' }, { uid: 65534 });
  await d.engine.called('startCreated', id);
  const container = [...d.engine.containers.values()].find((c) => c.jobId === id)!;
  t.is(container.spec.User.split(':')[0], '65534');
  d.engine.exit(id, 0);
  const job = await d.waitForJob(id, ['done', 'failed', 'rejected']);
  t.is(job.state, 'done', job.message ?? '');
  t.is(job.uid, 65534);
  t.is(job.user, 'nobody');
});

test('a rejected manifest keeps no value its owner wrote in the world-readable state: field, line and what it expects only', async (t) => {
  const d = await startInMemoryDaemon(t);
  const id = await d.push({ name: 'leaky', memory: 'sk-SECRET-TOKEN-1234', gpus: 'all-of-them' });
  const job = await d.waitForJob(id, ['rejected', 'failed', 'done', 'running']);
  t.is(job.state, 'rejected');
  t.regex(job.message ?? '', /line \d+: memory: expected a size/);
  t.regex(job.message ?? '', /line \d+: gpus: /);
  const saved = JSON.stringify(await readState(d.spool.state));
  t.false(saved.includes('sk-SECRET-TOKEN-1234'), job.message ?? '');
  t.false(saved.includes('all-of-them'), job.message ?? '');
});

test('a daemon that ran many jobs keeps no abort listener for each (their logs are saved, nothing to stop)', async (t) => {
  const warnings: string[] = [];
  const onWarning = (warning: Error) => {
    if (warning.name === 'MaxListenersExceededWarning') warnings.push(warning.message);
  };
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  const d = await startInMemoryDaemon(t);
  // Node warns once an AbortSignal has more than 10 listeners: 15 jobs, one after another.
  for (let i = 0; i < 15; i++) {
    const id = await d.push({ name: `one-of-many-${i}` });
    await d.engine.called('startCreated', id);
    d.engine.exit(id, 0, 'ok\n');
    await d.waitForJob(id, ['done']);
  }
  // A warning is emitted on the next tick after the listener that crossed the line.
  await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(
    warnings.filter((message) => message.includes('AbortSignal')),
    [],
  );
});

test('a job file whose submit time says long ago is taken as submitted no earlier than a minute before its link', async (t) => {
  const d = await startInMemoryDaemon(t, { policy: 'fifo' });
  const linkedAt = Date.now();
  const id = await d.push({ name: 'forged-early' }, { submittedAt: 1000 });
  const job = await d.waitForJob(id, ['running', 'done', 'queued']);
  t.true(job.submitted_at >= linkedAt - 60_000 - 1000, `submitted_at ${job.submitted_at} is not long before the link at ${linkedAt}`);
  const honest = await d.push({ name: 'honest' });
  t.true((await d.waitForJob(honest, ['running', 'done', 'queued'])).submitted_at >= linkedAt, 'an honest time is kept');
});

test('a job file with a second link and an mtime in the future is refused once its link is old, not kept forever', async (t) => {
  const d = await startInMemoryDaemon(t);
  const first = await d.push({ name: 'before' });
  await d.waitForJob(first, ['running', 'done']);
  // What a user can drop: a second name for the job file, with a far-future mtime (touch -d).
  const id = first + 1;
  const forged = path.join(d.spool.intake, '.held');
  await writeFile(forged, encodeEnvelope({ id, submitted_at: Date.now(), manifest: 'image: x\ncommand: "true"\n', source: '/tmp/x.yaml' }));
  await link(forged, path.join(d.spool.intake, `${id}${INTAKE_SUFFIX}`));
  const future = new Date('2099-01-01T00:00:00Z');
  await utimes(forged, future, future);
  d.advance(31_000); // past the grace push has to remove its temp name, by the link's ctime
  const job = await d.waitForJob(id, ['rejected']);
  t.regex(job.message ?? '', /link/);
});
