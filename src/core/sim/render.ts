// `dopq sim` output as tables: the summary of one policy or of several side by side, per-user
// waits, and (on request) every job.
import Table from 'cli-table3';
import type { SimJobResult } from './simulate.js';
import type { SimSummary } from './metrics.js';
import { formatDuration } from '../units.js';

const plain = { style: { head: [], border: [] }, chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' } };
const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(1)}%`);
const dur = (s: number | null) => (s === null ? '-' : formatDuration(s));
const fixed = (x: number | null) => (x === null ? '-' : x.toFixed(3));

const ROWS: [string, (s: SimSummary) => string][] = [
  ['jobs', (s) => String(s.jobs)],
  ['makespan', (s) => dur(s.makespan)],
  ['utilization', (s) => pct(s.utilization)],
  ['utilization while jobs waited', (s) => pct(s.utilization_while_waiting)],
  ['mean wait', (s) => dur(s.wait.mean)],
  ['p95 wait', (s) => dur(s.wait.p95)],
  ['max wait', (s) => dur(s.wait.max)],
  ['max wait, multi-GPU jobs', (s) => dur(s.multi_gpu_max_wait)],
  ["Jain's fairness (of fair-share ratios)", (s) => fixed(s.jain_fairness)],
  ['stopped at time limit', (s) => String(s.timed_out)],
  ['never started', (s) => String(s.never_started)],
];

export function renderSummaries(summaries: readonly SimSummary[]): string {
  const t = new Table({ head: ['', ...summaries.map((s) => s.policy)], ...plain });
  for (const [label, cell] of ROWS) t.push([label, ...summaries.map(cell)]);
  return t.toString();
}

export function renderUsers(summary: SimSummary): string {
  const t = new Table({ head: ['user', 'share', 'jobs', 'GPU-hours', 'mean wait', 'p95 wait', 'max wait', 'got / fair share'], ...plain });
  for (const u of summary.users) {
    t.push([
      u.user,
      String(u.share),
      String(u.jobs),
      (u.gpu_seconds / 3600).toFixed(1),
      dur(u.wait.mean),
      dur(u.wait.p95),
      dur(u.wait.max),
      u.fair_share_ratio === null ? '-' : u.fair_share_ratio.toFixed(2),
    ]);
  }
  return t.toString();
}

export function renderJobs(jobs: readonly SimJobResult[]): string {
  const t = new Table({ head: ['id', 'user', 'gpus', 'submit', 'start', 'end', 'wait'], ...plain });
  for (const job of jobs) {
    t.push([
      String(job.id),
      job.user,
      String(job.gpus),
      String(job.submit),
      job.start === null ? '-' : String(job.start),
      job.end === null ? '-' : `${job.end}${job.timed_out ? ' (limit)' : ''}`,
      dur(job.wait),
    ]);
  }
  return t.toString();
}
