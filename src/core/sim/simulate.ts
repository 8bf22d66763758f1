// `dopq sim`: the daemon's scheduler on a virtual clock. Jobs arrive as the trace says, run for
// their duration (or until their time limit) and the scheduler decides at every arrival and end,
// exactly as the daemon does on push and on a container's exit. No Docker, no wall clock.
import { Heap } from 'heap-js';
import { decayedGpuSeconds } from '../schedule/penalty.js';
import type { PolicyName } from '../schedule/policy.js';
import type { QueuedJob } from '../schedule/queue-order.js';
import { decide, type Placement, type RunningJob, type SchedulerInput } from '../schedule/scheduler.js';
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

/** Everything one simulation changes as its clock moves, in the units the scheduler takes (ms). */
interface SimState {
  now: number;
  /** Free GPUs, in index order as the daemon lists them. */
  free: string[];
  gpuRank: Map<string, number>;
  queues: Map<string, QueuedJob[]>;
  /** Queued jobs counted by size, so a pass that cannot start anything is skipped cheaply. */
  queuedCount: { total: number; cpu: number; byGpus: Map<number, number> };
  running: Map<number, Run>;
  ends: Heap<Run>;
  usage: Map<string, UserUsage>;
  history: string[];
  results: Map<number, SimJobResult>;
  reservations: Map<number, number>;
  passes: number;
}

const ms = (seconds: number) => seconds * 1000;

export function simulate(trace: Trace, settings: SimSettings): SimResult {
  const arrivals = [...trace.jobs].sort((a, b) => a.at - b.at || a.id - b.id);
  const byId = new Map(trace.jobs.map((job) => [job.id, job]));
  const state = initialState(trace, arrivals);
  const metrics = createSimMetrics(trace.gpus, trace.shares);
  let next = 0;
  while (next < arrivals.length || state.ends.length > 0) {
    const t = Math.min(
      next < arrivals.length ? ms(arrivals[next]!.at) : Infinity,
      state.ends.length > 0 ? state.ends.peek()!.end : Infinity,
    );
    metrics.advance(state.now, t, state.queues, state.running.values());
    state.now = t;
    finishRuns(state, trace.half_life, settings.classic_history);
    next = admitArrivals(state, arrivals, next);
    // Nothing can start when no queued job fits the free GPUs: skip the pass (same decisions).
    if (nothingFits(state)) continue;
    startJobs(state, schedulerPass(state, trace, settings), byId);
  }
  const jobs = [...state.results.values()];
  return { jobs, summary: metrics.summary(settings.policy, jobs), passes: state.passes, reservations: state.reservations };
}

function initialState(trace: Trace, arrivals: readonly TraceJob[]): SimState {
  const gpuIds = Array.from({ length: trace.gpus }, (_, i) => String(i));
  return {
    now: arrivals.length > 0 ? ms(arrivals[0]!.at) : 0,
    free: [...gpuIds],
    gpuRank: new Map(gpuIds.map((id, i) => [id, i])),
    queues: new Map(),
    queuedCount: { total: 0, cpu: 0, byGpus: new Map() },
    running: new Map(),
    ends: new Heap<Run>((a, b) => a.end - b.end || a.id - b.id),
    usage: new Map(),
    history: [],
    results: new Map(
      trace.jobs.map((job) => [
        job.id,
        { id: job.id, user: job.user, gpus: job.gpus, submit: job.at, start: null, end: null, wait: null, timed_out: false },
      ]),
    ),
    reservations: new Map(),
    passes: 0,
  };
}

/** A user's finished work decayed from when it was recorded to `t` (ms), half-life `h` seconds. */
function carriedUsage(entry: UserUsage | undefined, t: number, h: number): number {
  return entry ? entry.value * Math.pow(2, -(t - entry.at) / 1000 / h) : 0;
}

/** Runs that end now give back their GPUs and add their work to their user's usage and history. */
function finishRuns(state: SimState, h: number, classicHistory: number): void {
  const { now } = state;
  while (state.ends.length > 0 && state.ends.peek()!.end === now) {
    const run = state.ends.pop()!;
    state.running.delete(run.id);
    state.free.push(...run.gpus);
    const carried = carriedUsage(state.usage.get(run.user), now, h);
    state.usage.set(run.user, { value: carried + decayedGpuSeconds(run.gpus.length, run.start, run.end, now, h), at: now });
    state.history = [run.user, ...state.history.slice(0, classicHistory - 1)];
  }
  state.free.sort((a, b) => state.gpuRank.get(a)! - state.gpuRank.get(b)!);
}

/** Jobs arriving now join their user's queue; returns the index of the first arrival still to come. */
function admitArrivals(state: SimState, arrivals: readonly TraceJob[], next: number): number {
  while (next < arrivals.length && ms(arrivals[next]!.at) === state.now) {
    const job = arrivals[next++]!;
    const queued: QueuedJob = { id: job.id, user: job.user, gpus: job.gpus, submitted_at: ms(job.at), time_limit: job.time_limit };
    const list = state.queues.get(job.user);
    if (list) list.push(queued);
    else state.queues.set(job.user, [queued]);
    countQueued(state, job.gpus, 1);
  }
  return next;
}

function countQueued(state: SimState, gpus: number, delta: number): void {
  const counts = state.queuedCount;
  counts.total += delta;
  if (gpus === 0) counts.cpu += delta;
  counts.byGpus.set(gpus, (counts.byGpus.get(gpus) ?? 0) + delta);
}

function nothingFits(state: SimState): boolean {
  const counts = state.queuedCount;
  if (counts.total === 0) return true;
  if (counts.cpu > 0) return false;
  let smallest = Infinity;
  for (const [gpus, n] of counts.byGpus) if (n > 0 && gpus < smallest) smallest = gpus;
  return smallest > state.free.length;
}

/** One scheduler decision, exactly as the daemon makes it; records a newly reserved job. */
function schedulerPass(state: SimState, trace: Trace, settings: SimSettings): Placement[] {
  state.passes += 1;
  const input: SchedulerInput = {
    policy: settings.policy,
    now: state.now,
    free: state.free,
    running: [...state.running.values()],
    queues: state.queues,
    usage: settings.policy === 'fairshare' ? usageNow(state, trace.half_life) : new Map(),
    shares: trace.shares,
    running_weight: settings.running_weight,
    history: state.history,
    classic_history: settings.classic_history,
    max_gpus_per_user: settings.max_gpus_per_user,
    paused: false,
  };
  const { starts, reservation } = decide(input);
  if (reservation && !state.reservations.has(reservation.id)) state.reservations.set(reservation.id, reservation.at);
  return starts;
}

/** Decayed GPU-seconds now of every user with queued jobs: finished work plus running work. */
function usageNow(state: SimState, h: number): Map<string, number> {
  const t = state.now;
  const result = new Map<string, number>();
  for (const user of state.queues.keys()) result.set(user, carriedUsage(state.usage.get(user), t, h));
  for (const run of state.running.values()) {
    const value = result.get(run.user);
    if (value !== undefined) result.set(run.user, value + decayedGpuSeconds(run.gpus.length, run.start, t, t, h));
  }
  return result;
}

/** The chosen jobs leave their queues, take their GPUs and run for their duration or time limit. */
function startJobs(state: SimState, starts: Placement[], byId: ReadonlyMap<number, TraceJob>): void {
  const { now } = state;
  for (const placement of starts) {
    const job = byId.get(placement.id)!;
    const list = state.queues.get(job.user)!;
    list.splice(
      list.findIndex((q) => q.id === job.id),
      1,
    );
    if (list.length === 0) state.queues.delete(job.user);
    countQueued(state, job.gpus, -1);
    const taken = new Set(placement.gpus);
    state.free = state.free.filter((gpu) => !taken.has(gpu));
    const run: Run = {
      id: job.id,
      user: job.user,
      gpus: placement.gpus,
      ends_at: now + ms(job.time_limit),
      job,
      start: now,
      end: now + ms(Math.min(job.duration, job.time_limit)),
    };
    state.running.set(job.id, run);
    state.ends.push(run);
    const result = state.results.get(job.id)!;
    result.start = now / 1000;
    result.end = run.end / 1000;
    result.wait = result.start - job.at;
    result.timed_out = job.duration > job.time_limit;
  }
}
