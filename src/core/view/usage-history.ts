// The last 24 h of GPU utilization and per-user GPU use, one point a minute, for the web
// dashboard's charts: the point the daemon appends, and the series read back. Pure.
import type { JobRecord } from '../job/job.js';
import type { GpuInfo } from '../schedule/gpus.js';

/** How far back the charts look, and how much the daemon's file keeps. */
export const HISTORY_WINDOW_MS = 24 * 3600 * 1000;
/** One point this often: 1440 lines a day, a few hundred bytes each. */
export const HISTORY_POINT_MS = 60 * 1000;

/** One point: when (ms), each GPU's utilization (% or null when unknown), each user's running GPUs and their mean utilization. */
export interface HistoryPoint {
  at: number;
  gpus: Record<string, number | null>;
  users: Record<string, { gpus: number; util: number | null }>;
}

/** What the GPUs and the running jobs say now. */
export function historyPoint(now: number, inventory: readonly GpuInfo[], jobs: readonly JobRecord[]): HistoryPoint {
  const gpus: Record<string, number | null> = {};
  for (const gpu of inventory) gpus[gpu.id] = typeof gpu.utilization === 'number' ? gpu.utilization : null;
  const users: Record<string, { gpus: number; util: number | null }> = {};
  const utilSums = new Map<string, { sum: number; count: number }>();
  for (const job of jobs) {
    if (job.state !== 'running') continue;
    const entry = (users[job.user] ??= { gpus: 0, util: null });
    entry.gpus += job.gpus.length;
    for (const id of job.gpus) {
      const util = gpus[id];
      if (typeof util !== 'number') continue;
      const sums = utilSums.get(job.user) ?? { sum: 0, count: 0 };
      sums.sum += util;
      sums.count += 1;
      utilSums.set(job.user, sums);
    }
  }
  for (const [user, { sum, count }] of utilSums) users[user]!.util = Math.round((sum / count) * 10) / 10;
  return { at: now, gpus, users };
}

/** The points of the last window, oldest first, from the file's lines; a torn or foreign line is skipped. */
export function parseHistory(text: string, now: number, windowMs = HISTORY_WINDOW_MS): HistoryPoint[] {
  const points: HistoryPoint[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let point: unknown;
    try {
      point = JSON.parse(line);
    } catch {
      continue; // a line cut short by a crash mid-append
    }
    if (!isPoint(point) || point.at < now - windowMs || point.at > now + HISTORY_POINT_MS) continue;
    points.push(point);
  }
  return points.sort((a, b) => a.at - b.at);
}

function isPoint(value: unknown): value is HistoryPoint {
  if (typeof value !== 'object' || value === null) return false;
  const point = value as Partial<HistoryPoint>;
  return (
    typeof point.at === 'number' &&
    typeof point.gpus === 'object' &&
    point.gpus !== null &&
    typeof point.users === 'object' &&
    point.users !== null &&
    Object.values(point.gpus).every((util) => util === null || typeof util === 'number') &&
    Object.values(point.users).every((user) => typeof user === 'object' && user !== null && typeof user.gpus === 'number')
  );
}
