// dopq report's aggregation: clipping to the window and to days, outcomes, waits, utilization.
import test from 'ava';
import fc from 'fast-check';
import type { AccountingRecord } from '../../src/core/report/accounting-record.js';
import { buildReport, mergeRecords, percentile, periodStart } from '../../src/core/report/report.js';
import { bar, reportCsv, renderReport, sparkline } from '../../src/core/report/report-render.js';

const H = 3_600_000;
const T0 = Date.parse('2026-11-02T00:00:00Z'); // a Monday

const record = (over: Partial<AccountingRecord>): AccountingRecord => ({
  id: 1,
  user: 'alice',
  name: 'j',
  state: 'done',
  reason: 'exited',
  exit_code: 0,
  gpus: 1,
  submitted_at: T0,
  started_at: T0,
  finished_at: T0 + H,
  gpu_util_percent_mean: null,
  ...over,
});

test('by user: GPU-hours, outcomes, mean and p95 wait, utilization over measured jobs only', (t) => {
  const records = [
    record({ id: 1, gpus: 2, submitted_at: T0 - 60_000, started_at: T0, finished_at: T0 + 3 * H, gpu_util_percent_mean: 10 }),
    record({ id: 2, state: 'failed', exit_code: 1, submitted_at: T0, started_at: T0 + 120_000, finished_at: T0 + H + 120_000 }),
    record({
      id: 3,
      user: 'bob',
      state: 'cancelled',
      submitted_at: T0,
      started_at: T0 + 600_000,
      finished_at: T0 + 600_000 + H / 2,
      gpu_util_percent_mean: 50,
    }),
    record({ id: 4, user: 'bob', state: 'rejected', started_at: null, finished_at: T0 }),
  ];
  const report = buildReport(records, { by: 'user', since: T0 - H, until: T0 + 10 * H, now: T0 + 10 * H });
  const alice = report.rows.find((row) => row.key === 'alice')!;
  t.is(alice.gpu_hours, 7);
  t.deepEqual(alice.jobs, { done: 1, failed: 1, cancelled: 0, rejected: 0 });
  t.is(alice.wait_mean_seconds, 90);
  t.is(alice.wait_p95_seconds, 120);
  t.is(alice.measured_gpu_hours, 6);
  t.is(alice.gpu_util_percent, 10);
  t.is(alice.idle_gpu_hours, 5.4);
  const bob = report.rows.find((row) => row.key === 'bob')!;
  t.deepEqual(bob.jobs, { done: 0, failed: 0, cancelled: 1, rejected: 1 });
  t.is(bob.idle_gpu_hours, 0.25);
  t.is(report.total.gpu_hours, 7.5);
  t.is(report.total.started, 3);
});

test('no usage data: utilization and idle GPU-hours are unknown, not zero', (t) => {
  const report = buildReport([record({})], { by: 'user', now: T0 + 2 * H });
  t.is(report.rows[0]!.gpu_util_percent, null);
  t.is(report.rows[0]!.idle_gpu_hours, null);
  t.regex(renderReport(report), /unknown/);
});

test('by day: a run across midnight is split, the window clips it, a running job counts up to now', (t) => {
  const records = [
    record({ id: 1, started_at: T0 + 22 * H, finished_at: T0 + 26 * H }),
    record({ id: 2, state: 'running', started_at: T0 + 47 * H, finished_at: null }),
  ];
  const report = buildReport(records, { by: 'day', since: T0 + 23 * H, until: T0 + 72 * H, now: T0 + 49 * H });
  t.deepEqual(
    report.rows.map((row) => [row.key, row.gpu_hours]),
    [
      ['2026-11-02', 1],
      ['2026-11-03', 3],
      ['2026-11-04', 1],
    ],
  );
  t.is(report.total.gpu_hours, 5);
  t.is(report.rows[0]!.started, 0); // started before the window
});

test('weeks start on Monday (UTC)', (t) => {
  t.is(periodStart(T0 + 5 * 86_400_000 + 5 * H, 'week'), T0);
  t.is(periodStart(T0 - 1, 'week'), T0 - 7 * 86_400_000);
});

test('GPU-hours by day add up to the whole window (property)', (t) => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          start: fc.integer({ min: 0, max: 200 * H }),
          length: fc.integer({ min: 0, max: 50 * H }),
          gpus: fc.integer({ min: 1, max: 8 }),
        }),
        { maxLength: 20 },
      ),
      (runs) => {
        const records = runs.map((run, i) =>
          record({
            id: i + 1,
            gpus: run.gpus,
            submitted_at: T0 + run.start,
            started_at: T0 + run.start,
            finished_at: T0 + run.start + run.length,
          }),
        );
        const options = { since: T0 + 3 * H, until: T0 + 240 * H, now: T0 + 300 * H };
        const byDay = buildReport(records, { by: 'day', ...options });
        const byUser = buildReport(records, { by: 'user', ...options });
        const sum = byDay.rows.reduce((total, row) => total + row.gpu_hours, 0);
        return Math.abs(sum - byUser.total.gpu_hours) < 1e-9 && Math.abs(byDay.total.gpu_hours - byUser.total.gpu_hours) < 1e-9;
      },
    ),
  );
  t.pass();
});

test('the state record wins over the file record of the same job', (t) => {
  const merged = mergeRecords([record({ id: 2, state: 'failed' })], [record({ id: 1 }), record({ id: 2 })]);
  t.deepEqual(
    merged.map((r) => [r.id, r.state]),
    [
      [1, 'done'],
      [2, 'failed'],
    ],
  );
});

test('percentile is nearest-rank; bars and sparklines scale to the maximum', (t) => {
  t.is(percentile([], 95), null);
  t.is(percentile([5], 95), 5);
  t.is(
    percentile(
      Array.from({ length: 100 }, (_v, i) => i + 1),
      95,
    ),
    95,
  );
  t.is(bar(10, 10, 4), '████');
  t.is(bar(0, 10), '');
  t.is(sparkline([0, 1, 2, 4]), '▁▂▄█');
});

test('CSV has a header, one line per row and the total, unknown as empty', (t) => {
  const csv = reportCsv(buildReport([record({ user: 'a,b' })], { by: 'user', now: T0 + 2 * H }));
  const lines = csv.trim().split('\n');
  t.is(
    lines[0],
    'key,gpu_hours,jobs_done,jobs_failed,jobs_cancelled,jobs_rejected,started,wait_mean_seconds,wait_p95_seconds,measured_gpu_hours,gpu_util_percent,idle_gpu_hours',
  );
  t.is(lines[1], '"a,b",1,1,0,0,0,1,0,0,0,,');
  t.true(lines[2]!.startsWith('total,1,'));
});

test('a report over a long history (200 000 jobs on record) is built: no spread of every record into one call', (t) => {
  // state/accounting.jsonl keeps every job ever; Math.min(...all) threw "Maximum call stack size exceeded" past ~120 000.
  const records = Array.from({ length: 200_000 }, (_, i) =>
    record({ id: i + 1, submitted_at: 1_000_000 + i, started_at: 1_000_000 + i, finished_at: 1_000_000 + i + 3_600_000 }),
  );
  const report = buildReport(records, { by: 'user', now: 2_000_000_000 });
  t.is(report.since, new Date(1_000_000).toISOString());
  t.is(report.total.jobs.done, 200_000);
});
