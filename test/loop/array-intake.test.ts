// The daemon's side of arrays and dependencies, against an engine in memory: one intake file
// `<first>-<last>.job` becomes one job per index with its environment; two files racing for the
// same numbers: the one linked first is taken in, the later one dropped once its push had time to
// take it back; a chain of dependants ends with the job that failed.
import { readdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { stringify } from 'yaml';
import { encodeEnvelope } from '../../src/core/job/envelope.js';
import { IMAGE, startInMemoryDaemon, type InMemoryDaemon } from './in-memory-daemon.js';

/** A job file as push publishes it, under `name` (`7.job` or `7-9.job`). */
async function drop(d: InMemoryDaemon, name: string, id: number, manifest: Record<string, unknown>): Promise<void> {
  const temp = path.join(d.spool.intake, `.push-${name}`);
  const text = stringify({ image: IMAGE, command: 'true', gpus: 0, ...manifest });
  await writeFile(temp, encodeEnvelope({ id, submitted_at: Date.now(), manifest: text, source: '/tmp/m.yaml' }), { mode: 0o600 });
  await rename(temp, path.join(d.spool.intake, name));
}

test('an array file becomes one job per index, consecutive ids, each with DOPQ_ARRAY_* in its environment', async (t) => {
  const d = await startInMemoryDaemon(t);
  await drop(d, '1-3.job', 1, { array: '4,8-9%2', after_any: [] });
  await d.waitForJob(3, ['queued', 'running']);
  const state = await d.state();
  t.deepEqual(
    state.jobs.map((job) => [job.id, job.array]),
    [
      [1, { id: 1, index: 4, size: 3, throttle: 2 }],
      [2, { id: 1, index: 8, size: 3, throttle: 2 }],
      [3, { id: 1, index: 9, size: 3, throttle: 2 }],
    ],
  );
  await d.engine.called('startCreated', 1);
  await d.engine.called('startCreated', 2);
  const env = [...d.engine.containers.values()].find((c) => c.jobId === 2)!.spec.Env;
  t.true(env.includes('DOPQ_ARRAY_ID=1') && env.includes('DOPQ_ARRAY_INDEX=8') && env.includes('DOPQ_ARRAY_SIZE=3'), env.join(' '));
  // %2: the third waits until one of the two ends.
  t.false(d.engine.calls.some((call) => call.method === 'create' && call.jobId === 3));
  d.engine.exit(1, 0);
  await d.engine.called('startCreated', 3);
  t.pass();
});

test('two files holding the same numbers: the one linked first is taken in, the later one waits for its push to take it back, then is dropped', async (t) => {
  const d = await startInMemoryDaemon(t);
  await drop(d, '2-4.job', 2, { array: '0-2' });
  await drop(d, '3.job', 3, { name: 'later' });
  await d.waitForJob(4, ['queued', 'running', 'done']);
  t.is((await d.job(3))?.array?.id, 2, 'the array, linked first, has its numbers');
  await drop(d, '6.job', 6, { name: 'first' });
  await drop(d, '5-7.job', 5, { array: '0-2' });
  const first = await d.waitForJob(6, ['queued', 'running', 'done']);
  t.is(first.name, 'first');
  t.is(first.array, undefined);
  t.is(await d.job(5), undefined, 'the array linked later waits');
  // Its push would have taken it back at once; past the grace time it is dropped unread.
  d.advance(31_000);
  await drop(d, '8.job', 8, { name: 'pass' });
  await d.waitForJob(8, ['queued', 'running', 'done']);
  await d.waitFor('the later files dropped', async () => {
    const left = await readdir(d.spool.intake);
    return !left.includes('5-7.job') && !left.includes('3.job');
  });
  t.is(await d.job(5), undefined);
  t.is((await d.job(3))?.array?.id, 2, 'job 3 is still the array task');
});

test('a range file whose manifest has another number of tasks is rejected; so is a dependency on a later or unknown job', async (t) => {
  const d = await startInMemoryDaemon(t);
  await drop(d, '1-3.job', 1, { array: '0-1' });
  await drop(d, '4.job', 4, { after: [9] });
  await drop(d, '5.job', 5, { after: [2] });
  const rejected = await d.waitForJob(1, ['rejected']);
  t.regex(rejected.message ?? '', /holds 3 job numbers, its manifest's array 2/);
  t.regex((await d.waitForJob(4, ['rejected'])).message ?? '', /after: job 9 is not earlier than this job/);
  t.regex((await d.waitForJob(5, ['rejected'])).message ?? '', /after: there is no job 2/);
});

test('a failed job cancels its after: chain in one pass; after_any still runs', async (t) => {
  const d = await startInMemoryDaemon(t);
  await drop(d, '1.job', 1, {});
  await drop(d, '2.job', 2, { after: [1] });
  await drop(d, '3.job', 3, { after: 2 });
  await drop(d, '4.job', 4, { after_any: [1] });
  await d.engine.called('startCreated', 1);
  t.is((await d.job(3))?.state, 'queued');
  d.engine.exit(1, 3);
  const second = await d.waitForJob(2, ['cancelled']);
  t.is(second.reason, 'dependency-failed');
  t.regex(second.message ?? '', /job 1, which it runs after, ended failed/);
  t.is((await d.waitForJob(3, ['cancelled'])).reason, 'dependency-failed');
  await d.engine.called('startCreated', 4);
  t.pass();
});

test('a job pushed after a large array waiting in the intake is not taken for one numbered far past the floor', async (t) => {
  const d = await startInMemoryDaemon(t);
  // Both in the intake at once, as when the daemon is slow to read them: the array's file holds 200 numbers.
  await drop(d, '1-200.job', 1, { array: '0-199' });
  await drop(d, '201.job', 201, { name: 'after-the-array' });
  t.is((await d.waitForJob(201, ['queued', 'running', 'done'])).name, 'after-the-array');
  t.false(
    d.log.some((line) => line.includes('unread')),
    d.log.join('\n'),
  );
});
