// `dopq sim`: the daemon's scheduler on a virtual clock. Jobs arrive as the trace says, run for
// their duration (or until their time limit) and the scheduler decides at every arrival and end,
// exactly as the daemon does on push and on a container's exit. No Docker, no wall clock.
import { Heap } from 'heap-js';
import { decayedGpuSeconds } from '../schedule/penalty.js';
import type { PolicyName } from '../schedule/policy.js';
import type { QueuedJob } from '../schedule/queue-order.js';
import { decide, type RunningJob, type SchedulerInput } from '../schedule/scheduler.js';
import { createSimMetrics, type SimJobResult, type SimSummary } from './metrics.js';

export type { SimJobResult };
import type { Trace, TraceJob } from './trace.js';

export interface SimSettings {
  policy: PolicyName;
  running_weight: number;
  classic_history: number;
  max_gpus_per_user: number | null;
}

export interface SimResult {
  jobs: SimJobResult[];
  summary: SimSummary;
  /** Scheduler passes run (for the benchmark). */
  passes: number;
  /** Per job that was ever the reserved one, the first time it was promised its GPUs (ms). */
  reservations: Map<number, number>;
}

interface Run extends RunningJob {
  job: TraceJob;
  start: number;
  end: number; // actual end, ms
}

interface UserUsage {
  /** Decayed GPU-seconds of finished work, as of `at` (ms). */
  value: number;
  at: number;
}

export function simulate(trace: Trace, settings: SimSettings): SimResult {
  const ms = (seconds: number) => seconds * 1000;
  const h = trace.half_life;
  const gpuIds = Array.from({ length: trace.gpus }, (_, i) => String(i));
  const gpuRank = new Map(gpuIds.map((id, i) => [id, i]));
  let free = [...gpuIds];
  const arrivals = [...trace.jobs].sort((a, b) => a.at - b.at || a.id - b.id);
  const byId = new Map(trace.jobs.map((job) => [job.id, job]));
  const queues = new Map<string, QueuedJob[]>();
  const queuedCount = { total: 0, cpu: 0, byGpus: new Map<number, number>() };
  const running = new Map<number, Run>();
  const ends = new Heap<Run>((a, b) => a.end - b.end || a.id - b.id);
  const usage = new Map<string, UserUsage>();
  let history: string[] = [];
  const results = new Map<number, SimJobResult>(
    trace.jobs.map((job) => [
      job.id,
      { id: job.id, user: job.user, gpus: job.gpus, submit: job.at, start: null, end: null, wait: null, timed_out: false },
    ]),
  );
  const metrics = createSimMetrics(trace.gpus, trace.shares);
  let next = 0;
  let now = arrivals.length > 0 ? ms(arrivals[0]!.at) : 0;
  let passes = 0;
  const reservations = new Map<number, number>();

  /** Decayed GPU-seconds now of every user with queued jobs: finished work plus running work. */
  const usageNow = (t: number): Map<string, number> => {
    const result = new Map<string, number>();
    for (const user of queues.keys()) {
      const carried = usage.get(user);
      result.set(user, carried ? carried.value * Math.pow(2, -(t - carried.at) / 1000 / h) : 0);
    }
    for (const run of running.values()) {
      const value = result.get(run.user);
      if (value !== undefined) result.set(run.user, value + decayedGpuSeconds(run.gpus.length, run.start, t, t, h));
    }
    return result;
  };
  const countQueued = (gpus: number, delta: number) => {
    queuedCount.total += delta;
    if (gpus === 0) queuedCount.cpu += delta;
    queuedCount.byGpus.set(gpus, (queuedCount.byGpus.get(gpus) ?? 0) + delta);
  };
  const smallestQueued = (): number => {
    let min = Infinity;
    for (const [gpus, n] of queuedCount.byGpus) if (n > 0 && gpus < min) min = gpus;
    return min;
  };

  while (next < arrivals.length || ends.length > 0) {
    const t = Math.min(next < arrivals.length ? ms(arrivals[next]!.at) : Infinity, ends.length > 0 ? ends.peek()!.end : Infinity);
    metrics.advance(now, t, queues, running.values());
    now = t;
    while (ends.length > 0 && ends.peek()!.end === now) {
      const run = ends.pop()!;
      running.delete(run.id);
      free.push(...run.gpus);
      const before = usage.get(run.user);
      const carried = before ? before.value * Math.pow(2, -(now - before.at) / 1000 / h) : 0;
      usage.set(run.user, { value: carried + decayedGpuSeconds(run.gpus.length, run.start, run.end, now, h), at: now });
      history = [run.user, ...history.slice(0, settings.classic_history - 1)];
    }
    free.sort((a, b) => gpuRank.get(a)! - gpuRank.get(b)!);
    while (next < arrivals.length && ms(arrivals[next]!.at) === now) {
      const job = arrivals[next++]!;
      const queued: QueuedJob = { id: job.id, user: job.user, gpus: job.gpus, submitted_at: ms(job.at), time_limit: job.time_limit };
      const list = queues.get(job.user);
      if (list) list.push(queued);
      else queues.set(job.user, [queued]);
      countQueued(job.gpus, 1);
    }
    // Nothing can start when no queued job fits the free GPUs: skip the pass (same decisions).
    if (queuedCount.total === 0 || (queuedCount.cpu === 0 && smallestQueued() > free.length)) continue;

    passes += 1;
    const input: SchedulerInput = {
      policy: settings.policy,
      now,
      free,
      running: [...running.values()],
      queues,
      usage: settings.policy === 'fairshare' ? usageNow(now) : new Map(),
      shares: trace.shares,
      running_weight: settings.running_weight,
      history,
      classic_history: settings.classic_history,
      max_gpus_per_user: settings.max_gpus_per_user,
      paused: false,
    };
    const { starts, reservation } = decide(input);
    if (reservation && !reservations.has(reservation.id)) reservations.set(reservation.id, reservation.at);
    for (const placement of starts) {
      const job = byId.get(placement.id)!;
      const list = queues.get(job.user)!;
      list.splice(
        list.findIndex((q) => q.id === job.id),
        1,
      );
      if (list.length === 0) queues.delete(job.user);
      countQueued(job.gpus, -1);
      const taken = new Set(placement.gpus);
      free = free.filter((gpu) => !taken.has(gpu));
      const runFor = Math.min(job.duration, job.time_limit);
      const run: Run = {
        id: job.id,
        user: job.user,
        gpus: placement.gpus,
        ends_at: now + ms(job.time_limit),
        job,
        start: now,
        end: now + ms(runFor),
      };
      running.set(job.id, run);
      ends.push(run);
      const result = results.get(job.id)!;
      result.start = now / 1000;
      result.end = run.end / 1000;
      result.wait = result.start - job.at;
      result.timed_out = job.duration > job.time_limit;
    }
  }
  const jobs = [...results.values()];
  return { jobs, summary: metrics.summary(settings.policy, jobs), passes, reservations };
}
