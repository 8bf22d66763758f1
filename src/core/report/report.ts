// `dopq report`'s numbers from accounting records: GPU-hours (each job's run clipped to the window
// and to each day or week), jobs by outcome (by end time), waits (by start time), utilization and
// idle GPU-hours where telemetry measured them. Pure: the clock is a parameter.
import type { AccountingRecord } from './accounting-record.js';

export type ReportGrouping = 'user' | 'day' | 'week';
export const OUTCOMES = ['done', 'failed', 'cancelled', 'rejected'] as const;

export interface ReportRow {
  /** The user, or the period's first day (YYYY-MM-DD, UTC; a week starts on Monday). */
  key: string;
  gpu_hours: number;
  jobs: Record<(typeof OUTCOMES)[number], number>;
  /** Jobs that started in the row's window, and their waits from submission (seconds). */
  started: number;
  wait_mean_seconds: number | null;
  wait_p95_seconds: number | null;
  /** GPU-hours of jobs telemetry measured; utilization and idle GPU-hours are over those only (null: none measured). */
  measured_gpu_hours: number;
  gpu_util_percent: number | null;
  idle_gpu_hours: number | null;
}

export interface Report {
  since: string;
  until: string;
  by: ReportGrouping;
  rows: ReportRow[];
  total: ReportRow;
}

const DAY = 86_400_000;

/** The records the state and the accounting file hold together: one per job id, the state's winning. */
export function mergeRecords(fromState: readonly AccountingRecord[], fromFile: readonly AccountingRecord[]): AccountingRecord[] {
  const byId = new Map<number, AccountingRecord>();
  for (const record of fromFile) byId.set(record.id, record);
  for (const record of fromState) byId.set(record.id, record);
  return [...byId.values()].sort((a, b) => a.id - b.id);
}

/** Nearest-rank percentile (`p` in 0..100) of values; null when there are none. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Midnight UTC of the day, or of the Monday of the week, that holds `ms`. */
export function periodStart(ms: number, by: 'day' | 'week'): number {
  const day = Math.floor(ms / DAY) * DAY;
  if (by === 'day') return day;
  const weekday = (new Date(day).getUTCDay() + 6) % 7; // Monday 0
  return day - weekday * DAY;
}

function rowOf(key: string, records: readonly AccountingRecord[], from: number, to: number, now: number): ReportRow {
  let gpuHours = 0;
  let measured = 0;
  let utilWeighted = 0;
  const jobs = { done: 0, failed: 0, cancelled: 0, rejected: 0 };
  const waits: number[] = [];
  for (const record of records) {
    if (record.started_at !== null) {
      const end = record.finished_at ?? now;
      const overlap = Math.max(0, Math.min(end, to) - Math.max(record.started_at, from));
      const hours = (record.gpus * overlap) / 3_600_000;
      gpuHours += hours;
      if (record.gpu_util_percent_mean !== null && hours > 0) {
        measured += hours;
        utilWeighted += hours * record.gpu_util_percent_mean;
      }
      if (record.started_at >= from && record.started_at < to) waits.push(Math.max(0, record.started_at - record.submitted_at) / 1000);
    }
    if (record.finished_at !== null && record.finished_at >= from && record.finished_at < to && record.state in jobs)
      jobs[record.state as keyof typeof jobs] += 1;
  }
  const util = measured > 0 ? utilWeighted / measured : null;
  return {
    key,
    gpu_hours: gpuHours,
    jobs,
    started: waits.length,
    wait_mean_seconds: waits.length > 0 ? waits.reduce((sum, wait) => sum + wait, 0) / waits.length : null,
    wait_p95_seconds: percentile(waits, 95),
    measured_gpu_hours: measured,
    gpu_util_percent: util,
    idle_gpu_hours: util === null ? null : measured * (1 - util / 100),
  };
}

/**
 * The report over [since, until): by user, one row per user with any GPU time, outcome or start
 * in the window; by day or week, one row per period from since's to until's, empty ones included
 * (a chart needs its gaps). `since` absent: from the earliest submission on record.
 */
export function buildReport(
  records: readonly AccountingRecord[],
  options: { since?: number; until?: number; by: ReportGrouping; now: number },
): Report {
  const until = options.until ?? options.now;
  // A loop, not Math.min(...records): the accounting file keeps every job ever, past what one call's arguments may hold.
  const since = options.since ?? records.reduce((earliest, record) => Math.min(earliest, record.submitted_at), until);
  const rows: ReportRow[] = [];
  if (options.by === 'user') {
    for (const user of [...new Set(records.map((record) => record.user))].sort()) {
      const row = rowOf(
        user,
        records.filter((record) => record.user === user),
        since,
        until,
        options.now,
      );
      if (row.gpu_hours > 0 || row.started > 0 || OUTCOMES.some((outcome) => row.jobs[outcome] > 0)) rows.push(row);
    }
  } else {
    const step = options.by === 'day' ? DAY : 7 * DAY;
    for (let start = periodStart(since, options.by); start < until; start += step)
      rows.push(
        rowOf(new Date(start).toISOString().slice(0, 10), records, Math.max(start, since), Math.min(start + step, until), options.now),
      );
  }
  return {
    since: new Date(since).toISOString(),
    until: new Date(until).toISOString(),
    by: options.by,
    rows,
    total: rowOf('total', records, since, until, options.now),
  };
}
