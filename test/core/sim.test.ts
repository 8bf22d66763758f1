import test from 'ava';
import fc from 'fast-check';
import { DopqError } from '../../src/core/errors.js';
import { jain, maxMinShares, waitStats } from '../../src/core/sim/metrics.js';
import { parseTrace, type Trace } from '../../src/core/sim/trace.js';
import { simulate, type SimSettings } from '../../src/core/sim/simulate.js';
import { testConfig } from './fixtures.js';

const config = testConfig();
const settings = (policy: SimSettings['policy'], cap: number | null = null): SimSettings => ({
  policy,
  running_weight: 3600,
  classic_history: 100,
  max_gpus_per_user: cap,
});

test('trace: units, count, default time limit from the config', (t) => {
  const trace = parseTrace(
    `gpus: 4
users: {bob: {share: 2}}
half_life: 1d
jobs:
  - {at: 10m, user: alice, gpus: 2, duration: 1h, count: 3}
  - {user: bob, duration: 90, time_limit: 2h}
`,
    'trace.yaml',
    config,
  );
  t.is(trace.jobs.length, 4);
  t.deepEqual(trace.jobs[0], { id: 1, user: 'alice', gpus: 2, at: 600, duration: 3600, time_limit: 3600 });
  t.deepEqual(trace.jobs[3], { id: 4, user: 'bob', gpus: 1, at: 0, duration: 90, time_limit: 7200 });
  t.is(trace.half_life, 86400);
  t.is(trace.shares.get('bob'), 2);
});

test('trace: errors name the field and line', (t) => {
  const error = t.throws(() =>
    parseTrace('gpus: 2\njobs:\n  - {user: a, duration: 1h}\n  - {user: b, gpus: 3, duration: soon}\n', 't.yaml', config),
  );
  t.true(error instanceof DopqError);
  t.regex(error!.message, /line 4: jobs\[1\]\.duration: expected a duration/);
  const tooBig = t.throws(() => parseTrace('gpus: 2\njobs:\n  - {user: a, gpus: 3, duration: 1h}\n', 't.yaml', config));
  t.regex(tooBig!.message, /line 3: jobs\[0\]\.gpus: the trace's machine has 2 GPUs, got 3/);
});

test('simulation: virtual time, waits and end by time limit', (t) => {
  const trace: Trace = {
    gpus: 1,
    shares: new Map(),
    half_life: 86400,
    jobs: [
      { id: 1, user: 'a', gpus: 1, at: 0, duration: 100, time_limit: 1000 },
      { id: 2, user: 'b', gpus: 1, at: 10, duration: 5000, time_limit: 50 },
    ],
  };
  const result = simulate(trace, settings('fifo'));
  t.deepEqual(result.jobs, [
    { id: 1, user: 'a', gpus: 1, submit: 0, start: 0, end: 100, wait: 0, timed_out: false },
    { id: 2, user: 'b', gpus: 1, submit: 10, start: 100, end: 150, wait: 90, timed_out: true },
  ]);
  t.like(result.summary, { makespan: 150, utilization: 1, timed_out: 1, multi_gpu_max_wait: null });
});

test("Jain's index and nearest-rank percentiles", (t) => {
  t.is(jain([1, 1, 1]), 1);
  t.is(jain([1, 0]), 0.5);
  t.is(jain([3]), null);
  t.deepEqual(waitStats([1, 2, 3, 4, 100]), { mean: 22, p95: 100, max: 100 });
});

const traceArb = fc
  .record({
    gpus: fc.integer({ min: 1, max: 8 }),
    cap: fc.option(fc.integer({ min: 4, max: 8 }), { nil: null }),
    jobs: fc.array(
      fc.record({
        user: fc.constantFrom('a', 'b', 'c'),
        gpus: fc.integer({ min: 0, max: 4 }),
        at: fc.nat(5000),
        duration: fc.integer({ min: 0, max: 4000 }),
        slack: fc.integer({ min: 0, max: 3000 }),
      }),
      { minLength: 1, maxLength: 40 },
    ),
  })
  .map(({ gpus, cap, jobs }) => ({
    cap,
    trace: {
      gpus,
      shares: new Map([['a', 2]]),
      half_life: 3600,
      jobs: jobs.map((j, i) => ({
        id: i + 1,
        user: j.user,
        gpus: Math.min(j.gpus, gpus),
        at: j.at,
        duration: j.duration,
        time_limit: j.duration + j.slack,
      })),
    } satisfies Trace,
  }));

const POLICIES = ['fairshare', 'fifo', 'dopq-classic'] as const;

test('property: every job that fits the machine starts, and GPUs in use never exceed the machine', (t) => {
  fc.assert(
    fc.property(traceArb, fc.constantFrom(...POLICIES), ({ trace, cap }, policy) => {
      const result = simulate(trace, settings(policy, cap));
      if (result.summary.never_started !== 0) return false;
      const events = result.jobs
        .flatMap((j) => [
          { t: j.start!, d: j.gpus },
          { t: j.end!, d: -j.gpus },
        ])
        .sort((x, y) => x.t - y.t || x.d - y.d);
      let inUse = 0;
      for (const e of events) {
        inUse += e.d;
        if (inUse > trace.gpus) return false;
      }
      return result.jobs.every((j) => j.start! >= j.submit && j.end! - j.start! <= trace.jobs[j.id - 1]!.time_limit);
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('property (fifo): a reserved job starts no later than it was first promised', (t) => {
  fc.assert(
    fc.property(traceArb, ({ trace }) => {
      const result = simulate(trace, settings('fifo'));
      return [...result.reservations].every(([id, at]) => result.jobs[id - 1]!.start! * 1000 <= at);
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('property: the same trace gives the same schedule', (t) => {
  fc.assert(
    fc.property(
      traceArb,
      fc.constantFrom(...POLICIES),
      ({ trace, cap }, policy) =>
        JSON.stringify(simulate(trace, settings(policy, cap)).jobs) === JSON.stringify(simulate(trace, settings(policy, cap)).jobs),
    ),
    { numRuns: 100 },
  );
  t.pass();
});

test('weighted max-min split: small demands are met, the rest is shared by weight', (t) => {
  const fair = maxMinShares(
    8,
    new Map([
      ['a', 1],
      ['b', 10],
      ['c', 10],
    ]),
    new Map([['c', 3]]),
  );
  t.is(fair.get('a'), 1);
  t.is(fair.get('b'), 7 / 4);
  t.is(fair.get('c'), (7 * 3) / 4);
});

test("trace: a job above the config's GPU limits is an error, not a job that never starts", (t) => {
  const capped = testConfig('');
  const perUser = { ...capped, limits: { ...capped.limits, per_user: { ...capped.limits.per_user, gpus: 2 } } };
  const error = t.throws(() => parseTrace('gpus: 8\njobs:\n  - {user: a, gpus: 3, duration: 1h}\n', 't.yaml', perUser));
  t.regex(error!.message, /line 3: jobs\[0\]\.gpus: at most 2 GPUs per user at once/);
  const perJob = t.throws(() => parseTrace('gpus: 8\njobs:\n  - {user: a, gpus: 5, duration: 1h}\n', 't.yaml', capped));
  t.regex(perJob!.message, /at most 4 GPUs per job \(limits\.gpus\)/);
});
