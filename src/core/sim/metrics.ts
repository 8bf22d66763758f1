// What a simulated schedule achieved: waits, utilization, and fairness between users who
// competed for GPUs. Definitions are in dopq-sim(1).
import type { QueuedJob } from '../schedule/queue-order.js';

export interface SimJobResult {
  id: number;
  user: string;
  gpus: number;
  /** Seconds from the trace's start; start/end/wait are null for a job that never started. */
  submit: number;
  start: number | null;
  end: number | null;
  wait: number | null;
  /** Stopped at its time limit before its duration was up. */
  timed_out: boolean;
}

export interface WaitStats {
  mean: number;
  p95: number;
  max: number;
}

export interface UserSummary {
  user: string;
  share: number;
  jobs: number;
  gpu_seconds: number;
  wait: WaitStats;
  /**
   * GPU-time received / GPU-time a weighted max-min fair split would have given, over the times
   * some job waited and this user had jobs; null if that never happened.
   */
  fair_share_ratio: number | null;
}

export interface SimSummary {
  policy: string;
  gpus: number;
  jobs: number;
  /** Jobs that never started (none, unless a job can never fit). */
  never_started: number;
  timed_out: number;
  /** Seconds from the trace's start until the last job ended. */
  makespan: number;
  /** Busy GPU-seconds / (GPUs x makespan). */
  utilization: number;
  /** The same, counted only while at least one job was waiting; null if none ever waited. */
  utilization_while_waiting: number | null;
  wait: WaitStats;
  /** Longest wait of a job asking for two or more GPUs; null if there is none. */
  multi_gpu_max_wait: number | null;
  /** Jain's index of the users' fair_share_ratio: 1 when every user got the same fraction of their fair share. */
  jain_fairness: number | null;
  users: UserSummary[];
}

export interface SimMetrics {
  advance(
    from: number,
    to: number,
    queues: ReadonlyMap<string, readonly QueuedJob[]>,
    running: Iterable<{ user: string; gpus: readonly string[] }>,
  ): void;
  summary(policy: string, jobs: readonly SimJobResult[]): SimSummary;
}

export function createSimMetrics(gpus: number, shares: ReadonlyMap<string, number>): SimMetrics {
  let busyTime = 0; // GPU-ms
  let waitingTime = 0; // ms
  let busyWhileWaiting = 0; // GPU-ms
  const contended = new Map<string, { entitled: number; received: number }>();
  return {
    advance(from, to, queues, running) {
      const dt = to - from;
      if (!(dt > 0)) return;
      const held = new Map<string, number>();
      let busy = 0;
      for (const run of running) {
        busy += run.gpus.length;
        held.set(run.user, (held.get(run.user) ?? 0) + run.gpus.length);
      }
      busyTime += busy * dt;
      if (queues.size === 0) return;
      waitingTime += dt;
      busyWhileWaiting += busy * dt;
      // Users with work now: what they hold plus what they wait for is their demand.
      const demand = new Map(held);
      for (const [user, jobs] of queues) demand.set(user, (demand.get(user) ?? 0) + jobs.reduce((sum, job) => sum + job.gpus, 0));
      const fair = maxMinShares(gpus, demand, shares);
      for (const [user, entitled] of fair) {
        const entry = contended.get(user) ?? { entitled: 0, received: 0 };
        entry.entitled += entitled * dt;
        entry.received += (held.get(user) ?? 0) * dt;
        contended.set(user, entry);
      }
    },
    summary(policy, jobs) {
      const started = jobs.filter((job) => job.start !== null);
      const makespan = started.reduce((max, job) => Math.max(max, job.end!), 0);
      const waits = started.map((job) => job.wait!);
      const multi = started.filter((job) => job.gpus >= 2).map((job) => job.wait!);
      const perUser = new Map<string, SimJobResult[]>();
      for (const job of jobs) perUser.set(job.user, [...(perUser.get(job.user) ?? []), job]);
      const users: UserSummary[] = [...perUser]
        .map(([user, list]) => {
          const share = shares.get(user) ?? 1;
          const c = contended.get(user);
          const ratio = c && c.entitled > 0 ? c.received / c.entitled : null;
          return {
            user,
            share,
            jobs: list.length,
            gpu_seconds: list.reduce((sum, job) => sum + (job.start === null ? 0 : job.gpus * (job.end! - job.start)), 0),
            wait: waitStats(list.filter((job) => job.wait !== null).map((job) => job.wait!)),
            fair_share_ratio: ratio,
          };
        })
        .sort((a, b) => a.user.localeCompare(b.user));
      const ratios = users.filter((u) => u.fair_share_ratio !== null).map((u) => u.fair_share_ratio!);
      return {
        policy,
        gpus,
        jobs: jobs.length,
        never_started: jobs.length - started.length,
        timed_out: jobs.filter((job) => job.timed_out).length,
        makespan,
        utilization: makespan > 0 ? busyTime / 1000 / (gpus * makespan) : 0,
        utilization_while_waiting: waitingTime > 0 ? busyWhileWaiting / (gpus * waitingTime) : null,
        wait: waitStats(waits),
        multi_gpu_max_wait: multi.length > 0 ? Math.max(...multi) : null,
        jain_fairness: jain(ratios),
        users,
      };
    },
  };
}

export function waitStats(values: readonly number[]): WaitStats {
  if (values.length === 0) return { mean: 0, p95: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, v) => sum + v, 0) / sorted.length;
  // Nearest-rank percentile.
  const p95 = sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)]!;
  return { mean, p95, max: sorted[sorted.length - 1]! };
}

/** Jain's fairness index: 1 when all equal, 1/n when one value takes everything. */
export function jain(values: readonly number[]): number | null {
  if (values.length < 2) return null;
  const sum = values.reduce((a, v) => a + v, 0);
  const squares = values.reduce((a, v) => a + v * v, 0);
  return squares === 0 ? null : (sum * sum) / (values.length * squares);
}

/**
 * Weighted max-min fair split of `total` GPUs: users who want less than their share by weight
 * get what they want, the rest is split again among the others by weight (water-filling).
 */
export function maxMinShares(total: number, demand: ReadonlyMap<string, number>, shares: ReadonlyMap<string, number>): Map<string, number> {
  const result = new Map<string, number>();
  let left = total;
  let open = [...demand].filter(([, d]) => d > 0);
  for (const [user, d] of demand) if (d <= 0) result.set(user, 0);
  while (open.length > 0 && left > 1e-9) {
    const weight = open.reduce((sum, [user]) => sum + (shares.get(user) ?? 1), 0);
    const satisfied = open.filter(([user, d]) => d <= (left * (shares.get(user) ?? 1)) / weight);
    if (satisfied.length === 0) {
      for (const [user] of open) result.set(user, (left * (shares.get(user) ?? 1)) / weight);
      return result;
    }
    for (const [user, d] of satisfied) {
      result.set(user, d);
      left -= d;
    }
    open = open.filter(([user]) => !result.has(user));
  }
  for (const [user] of open) result.set(user, 0);
  return result;
}
