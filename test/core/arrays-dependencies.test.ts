// Job arrays (indices, the %N cap) and dependencies (after, after_any) in the pure core: the
// spec's spelling, job numbers for a range, and what the scheduler starts, holds and plans.
import test from 'ava';
import fc from 'fast-check';
import { arrayTasks, formatArraySpec, MAX_ARRAY_SIZE, parseArraySpec } from '../../src/core/job/array-spec.js';
import { dependencyHolds } from '../../src/core/job/dependencies.js';
import { freeJobRange, intakeJobName, numbersOfIntakeEntry } from '../../src/core/job/job-ids.js';
import type { JobRecord, JobState } from '../../src/core/job/job.js';
import { parseManifest } from '../../src/core/job/manifest.js';
import type { QueuedJob } from '../../src/core/schedule/queue-order.js';
import { schedulerInput } from '../../src/core/schedule/schedule-input.js';
import { decide, type SchedulerInput } from '../../src/core/schedule/scheduler.js';
import { planQueue } from '../../src/core/schedule/start-estimates.js';
import type { StateFile } from '../../src/core/state.js';
import { buildQueueView } from '../../src/core/view/queue-view.js';
import { fairshareInput, gpuIds, testConfig } from './fixtures.js';

const config = testConfig();
const now = 1_000_000_000;

test('array specs: ranges, steps, lists and the %N cap, as Slurm spells them', (t) => {
  t.deepEqual(parseArraySpec('0-3'), { indices: [0, 1, 2, 3], throttle: null });
  t.deepEqual(parseArraySpec('0-9:3%2'), { indices: [0, 3, 6, 9], throttle: 2 });
  t.deepEqual(parseArraySpec('9,1,5,5'), { indices: [1, 5, 9], throttle: null });
  t.deepEqual(parseArraySpec('1,4-5%1'), { indices: [1, 4, 5], throttle: 1 });
  for (const bad of ['', '%4', '0-19%0', '0-19%x', '5-1', '0-5:0', 'a', '1,,2', '0-19%4%2', '-1', `0-${MAX_ARRAY_SIZE}`])
    t.true('error' in parseArraySpec(bad), bad);
  t.is(formatArraySpec({ indices: [0, 1, 2, 5, 7, 8], throttle: 4 }), '0-2,5,7-8%4');
});

test('property: a formatted spec parses back to itself', (t) => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.nat(200), { minLength: 1, maxLength: 50 }),
      fc.option(fc.integer({ min: 1, max: 9 }), { nil: null }),
      (indices, throttle) => {
        const spec = { indices: [...indices].sort((a, b) => a - b), throttle };
        t.deepEqual(parseArraySpec(formatArraySpec(spec)), spec);
      },
    ),
  );
});

test('tasks take consecutive job numbers; the array id is the first', (t) => {
  t.deepEqual(arrayTasks(17, { indices: [0, 5], throttle: 4 }), [
    { id: 17, array: { id: 17, index: 0, size: 2, throttle: 4 } },
    { id: 18, array: { id: 17, index: 5, size: 2, throttle: 4 } },
  ]);
});

test('intake names: one number, or an array range; a range skips numbers others hold', (t) => {
  t.deepEqual(numbersOfIntakeEntry('12-31.job'), { first: 12, last: 31 });
  t.deepEqual(numbersOfIntakeEntry('12.job'), { first: 12, last: 12 });
  for (const bad of ['12-12.job', '12-11.job', '12-31.ctx', `1-${MAX_ARRAY_SIZE + 1}.job`, '012-31.job'])
    t.is(numbersOfIntakeEntry(bad), undefined, bad);
  t.is(intakeJobName(5, 9), '5-9.job');
  t.is(intakeJobName(5), '5.job');
  const taken = [
    { first: 12, last: 12 },
    { first: 15, last: 20 },
  ];
  t.is(freeJobRange(10, taken, 1), 11);
  t.is(freeJobRange(10, taken, 2), 13);
  t.is(freeJobRange(10, taken, 3), 21);
});

test('manifest fields array, after and after_any; an array needs image:', (t) => {
  const result = parseManifest('image: busybox\narray: "0-9%2"\nafter: [3, 4]\nafter_any: "5,6"\n', config);
  t.true(result.ok);
  if (!result.ok) return;
  t.deepEqual(result.manifest.array, { indices: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], throttle: 2 });
  t.deepEqual(result.manifest.after, [3, 4]);
  t.deepEqual(result.manifest.after_any, [5, 6]);
  const bad = parseManifest('build: .\narray: 0-3\nafter: [0]\nafter_any: x\n', config);
  t.false(bad.ok);
  if (bad.ok) return;
  t.deepEqual(bad.issues.map((issue) => [issue.path, issue.line]).sort(), [
    ['after', 3],
    ['after_any', 4],
    ['array', 2],
  ]);
});

// --- the %N cap in the scheduler ---------------------------------------------------------------

const gpus = gpuIds;
const input = (queued: QueuedJob[], extra: Partial<SchedulerInput> = {}): SchedulerInput => fairshareInput(queued, now, 8, extra);

test('property: a pass never takes an array past its cap, and starts up to it when GPUs allow', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 30 }),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 0, max: 6 }),
      fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: 1, max: 12 }),
      fc.constantFrom('fairshare' as const, 'fifo' as const, 'dopq-classic' as const),
      (size, throttle, runningNow, taskGpus, gpuCount, policy) => {
        const running = Math.min(runningNow, throttle);
        const queued = Array.from({ length: size }, (_, i): QueuedJob => ({
          id: 100 + i,
          user: 'alice',
          gpus: taskGpus,
          submitted_at: i,
          time_limit: 60,
          array: { id: 100, throttle },
        }));
        const other: QueuedJob = { id: 500, user: 'bob', gpus: 1, submitted_at: 0, time_limit: 60 };
        const ends = Array.from({ length: running }, () => now + 30_000);
        const decisions = decide(input([...queued, other], { policy, free: gpus(gpuCount), array_running: new Map([[100, ends]]) }));
        const started = decisions.starts.filter((s) => s.id < 500).length;
        t.true(running + started <= throttle);
        // Never the reservation: a task over the cap waits for a sibling, not for GPUs.
        if (decisions.reservation) t.true(decisions.reservation.id === 500 || running + started < throttle);
        if (taskGpus === 0) t.is(started, Math.min(size, throttle - running));
      },
    ),
  );
});

test('planned starts keep the cap: at no time are more than N tasks planned to run', (t) => {
  const queued = Array.from({ length: 10 }, (_, i): QueuedJob => ({
    id: 10 + i,
    user: 'alice',
    gpus: 1,
    submitted_at: i,
    time_limit: 600,
    array: { id: 10, throttle: 3 },
  }));
  const plan = planQueue(input(queued));
  const starts = queued.map((job) => plan.estimates.get(job.id)!);
  for (const t0 of starts) {
    const overlapping = starts.filter((s) => s <= t0 && t0 < s + 600_000).length;
    t.true(overlapping <= 3, `${overlapping} at ${t0}`);
  }
  t.is(starts.filter((s) => s === now).length, 3);
  t.is(plan.blocked.get(13), 'array-limit');
});

// --- dependencies ------------------------------------------------------------------------------

const record = (id: number, state: JobState, extra: Partial<JobRecord> = {}): JobRecord => ({
  id,
  user: 'alice',
  uid: 1000,
  name: `j${id}`,
  image: 'busybox',
  gpus_requested: 1,
  gpus: state === 'running' ? [`g${id % 4}`] : [],
  state,
  submitted_at: id,
  time_limit: 600,
  ...(state === 'running' ? { started_at: now - 1000 } : {}),
  ...extra,
});
const stateOf = (jobs: JobRecord[]): StateFile => ({
  version: 1,
  jobs,
  gpus: gpus(4).map((id, index) => ({ id, index, processes: [] })),
  daemon: null,
});

test('after: waits while the job runs, starts once it is done, fails when it did not end done', (t) => {
  for (const [dep, expected] of [
    ['running', 'waiting'],
    ['queued', 'waiting'],
    ['done', 'ready'],
    ['failed', 'failed'],
    ['cancelled', 'failed'],
    ['rejected', 'failed'],
  ] as const) {
    const holds = dependencyHolds([record(1, dep), record(2, 'queued', { after: [1] })]);
    const got = holds.waiting.has(2) ? 'waiting' : holds.failed.has(2) ? 'failed' : 'ready';
    t.is(got, expected, dep);
  }
  const any = dependencyHolds([record(1, 'failed'), record(2, 'queued', { after_any: [1] })]);
  t.false(any.waiting.has(2) || any.failed.has(2));
});

test('an array id in after means all its tasks; a job no longer in the state counts as ended', (t) => {
  const array = (id: number, index: number, state: JobState) => record(id, state, { array: { id: 10, index, size: 3, throttle: null } });
  const jobs = [array(10, 0, 'done'), array(11, 1, 'running'), array(12, 2, 'done'), record(20, 'queued', { after: [10] })];
  t.true(dependencyHolds(jobs).waiting.has(20));
  jobs[1] = array(11, 1, 'done');
  t.false(dependencyHolds(jobs).waiting.has(20));
  t.false(dependencyHolds([record(20, 'queued', { after: [3] })]).waiting.has(20));
});

test('property: a job waiting on others is never started, reserved for or given an estimated start', (t) => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          state: fc.constantFrom<JobState>('queued', 'running', 'done', 'failed'),
          gpus: fc.integer({ min: 0, max: 4 }),
          dep: fc.option(fc.nat(30), { nil: undefined }),
          any: fc.boolean(),
        }),
        { minLength: 1, maxLength: 30 },
      ),
      (rows) => {
        let running = 0;
        const jobs = rows.map((row, i) => {
          const id = i + 1;
          const state = row.state === 'running' && running >= 4 ? 'queued' : row.state;
          if (state === 'running') running += 1;
          const dep = row.dep !== undefined && row.dep < i ? [row.dep + 1] : undefined;
          return record(id, state, {
            gpus_requested: state === 'running' ? 1 : row.gpus,
            gpus: state === 'running' ? [`g${running - 1}`] : [],
            ...(dep ? (row.any ? { after_any: dep } : { after: dep }) : {}),
          });
        });
        const state = stateOf(jobs);
        const holds = dependencyHolds(jobs);
        const plan = planQueue(schedulerInput(state, config, { now, shares: new Map() }));
        const view = buildQueueView(state, [], { now, config, shares: new Map(), all: true, daemonAlive: true });
        for (const id of [...holds.waiting, ...holds.failed.keys()]) {
          t.false(plan.decisions.starts.some((s) => s.id === id));
          t.not(plan.decisions.reservation?.id, id);
          t.false(plan.estimates.has(id));
        }
        for (const id of holds.waiting) {
          const shown = view.jobs.find((job) => job.id === id)!;
          t.is(shown.waiting_for, 'dependency');
          t.is(shown.estimated_start, null);
        }
      },
    ),
  );
});
