// The daemon's side of arrays and dependencies, against an engine in memory: one intake file
// `<first>-<last>.job` becomes one job per index with its environment; two files racing for the
// same numbers are read by nobody until one withdraws, and an array still overlapping after the
// grace time gives way; a chain of dependants ends with the job that failed.
import { rename, rm, writeFile } from 'node:fs/promises';
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

test('a file whose numbers another file holds too is read by nobody until one withdraws; after the grace time the array gives way', async (t) => {
  const d = await startInMemoryDaemon(t);
  await drop(d, '2-4.job', 2, { array: '0-2' });
  await drop(d, '3.job', 3, { name: 'single' });
  await drop(d, '5.job', 5, { name: 'other' });
  await d.waitForJob(5, ['queued', 'running', 'done']);
  t.deepEqual(
    (await d.state()).jobs.map((job) => job.id),
    [5],
    'neither of the two that overlap is taken in',
  );
  // The single push saw the array and withdrew: the array is taken in whole.
  await rm(path.join(d.spool.intake, '3.job'));
  await d.waitForJob(4, ['queued', 'running', 'done']);
  t.is((await d.job(3))?.array?.id, 2);

  await drop(d, '6-8.job', 6, { array: '0-2' });
  await drop(d, '7.job', 7, { name: 'kept' });
  await drop(d, '9.job', 9, { name: 'pass' });
  await d.waitForJob(9, ['queued', 'running', 'done']);
  d.advance(31_000);
  const kept = await d.waitForJob(7, ['queued', 'running', 'done']);
  t.is(kept.name, 'kept');
  t.is(kept.array, undefined);
  t.is(await d.job(6), undefined, 'the array was dropped unread');
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
