// What `dopq q` shows, as one plain object: built from the state file, the jobs still waiting in
// the intake, and the clock. `--json` prints it as is; render.ts draws it as tables.
import type { GpuInfo } from './gpus.js';
import { freeGpuIds } from './gpus.js';
import { isFinished, type JobRecord, type JobState } from './job.js';
import { statePenalties, type CarriedUsage } from './penalty.js';
import { queueOrder } from './schedule.js';

export interface DaemonInfo {
  pid: number;
  started_at: number;
  host: string;
  heartbeat_at: number;
}

export interface StateFile {
  version: 1;
  jobs: JobRecord[];
  gpus: GpuInfo[];
  daemon: DaemonInfo | null;
  /** Usage of jobs pruned from history, per user, so forgetting old jobs keeps penalties right. */
  carried_usage?: CarriedUsage[];
}

/** A job file in the intake that the daemon has not read yet (owner from the file's uid). */
export interface PendingJob {
  id: number;
  user: string;
  uid: number;
  submitted_at: number;
  name?: string;
  gpus_requested?: number;
}

export interface JobView {
  id: number;
  name: string;
  user: string;
  state: JobState;
  gpus: string[];
  gpus_requested: number;
  penalty: number | null;
  position: number | null;
  submitted_at: string;
  started_at: string | null;
  finished_at: string | null;
  exit_code: number | null;
  reason: string | null;
  message: string | null;
  image: string | null;
  time_limit: number | null;
  ingested: boolean;
}

export interface UserView {
  user: string;
  penalty: number;
  penalty_gpu_hours: number;
  running: number;
  queued: number;
  gpus_held: number;
}

export interface QueueView {
  daemon: { running: boolean; pid: number | null; since: string | null; host: string | null };
  gpus: { id: string; index: number; name: string | null; state: 'free' | 'held' | 'busy'; job: number | null }[];
  gpus_free: number;
  gpus_total: number;
  jobs: JobView[];
  users: UserView[];
  generated_at: string;
}

export interface ViewOptions {
  now: number;
  halfLifeSeconds: number;
  /** Whether the daemon that wrote `daemon` is alive (the caller checks the pid). */
  daemonAlive: boolean;
  /** Show finished jobs of all time, not just the last `recentMs`. */
  all: boolean;
  recentMs?: number;
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

export function buildQueueView(state: StateFile, pending: readonly PendingJob[], options: ViewOptions): QueueView {
  const { now } = options;
  const penalty = statePenalties(state, now, options.halfLifeSeconds);
  const known = new Set(state.jobs.map((job) => job.id));
  const waiting = [
    ...state.jobs.filter((job) => job.state === 'queued'),
    ...pending.filter((job) => !known.has(job.id)).map((job) => pendingAsRecord(job)),
  ];
  const order = queueOrder(
    waiting.map((job) => ({ id: job.id, user: job.user, gpus: job.gpus_requested, submitted_at: job.submitted_at })),
    penalty,
  );
  const position = new Map(order.map((job, i) => [job.id, i + 1]));
  const recent = options.recentMs ?? 24 * 3600 * 1000;
  const running = state.jobs.filter((job) => job.state === 'running');
  const shown = [...state.jobs.filter((job) => job.state !== 'queued'), ...waiting].filter(
    (job) => options.all || !isFinished(job) || (job.finished_at ?? now) >= now - recent,
  );
  const pendingIds = new Set(pending.map((job) => job.id));

  const jobs: JobView[] = shown
    .map((job) => ({
      id: job.id,
      name: job.name,
      user: job.user,
      state: job.state,
      gpus: job.gpus,
      gpus_requested: job.gpus_requested,
      penalty: isFinished(job) ? null : (penalty.get(job.user) ?? 0),
      position: position.get(job.id) ?? null,
      submitted_at: iso(job.submitted_at)!,
      started_at: iso(job.started_at),
      finished_at: iso(job.finished_at),
      exit_code: job.exit_code ?? null,
      reason: job.reason ?? null,
      message: job.message ?? null,
      image: job.image === '' ? null : job.image,
      time_limit: job.time_limit > 0 ? job.time_limit : null,
      ingested: !pendingIds.has(job.id) || known.has(job.id),
    }))
    .sort((a, b) => a.id - b.id);

  const users = new Map<string, UserView>();
  const userView = (user: string): UserView => {
    let view = users.get(user);
    if (!view) {
      const p = penalty.get(user) ?? 0;
      view = { user, penalty: p, penalty_gpu_hours: p / 3600, running: 0, queued: 0, gpus_held: 0 };
      users.set(user, view);
    }
    return view;
  };
  for (const user of penalty.keys()) userView(user);
  for (const job of running) {
    const view = userView(job.user);
    view.running += 1;
    view.gpus_held += job.gpus.length;
  }
  for (const job of waiting) userView(job.user).queued += 1;

  const holder = new Map(running.flatMap((job) => job.gpus.map((gpu) => [gpu, job.id] as const)));
  const free = new Set(freeGpuIds(state.gpus, running));
  const gpus = state.gpus.map((gpu) => ({
    id: gpu.id,
    index: gpu.index,
    name: gpu.name ?? null,
    state: holder.has(gpu.id) ? ('held' as const) : free.has(gpu.id) ? ('free' as const) : ('busy' as const),
    job: holder.get(gpu.id) ?? null,
  }));

  return {
    daemon: {
      running: options.daemonAlive && state.daemon !== null,
      pid: state.daemon?.pid ?? null,
      since: options.daemonAlive ? iso(state.daemon?.started_at) : null,
      host: state.daemon?.host ?? null,
    },
    gpus,
    gpus_free: gpus.filter((gpu) => gpu.state === 'free').length,
    gpus_total: gpus.length,
    jobs,
    users: [...users.values()].sort((a, b) => a.penalty - b.penalty || a.user.localeCompare(b.user)),
    generated_at: new Date(now).toISOString(),
  };
}

function pendingAsRecord(job: PendingJob): JobRecord {
  return {
    id: job.id,
    user: job.user,
    uid: job.uid,
    name: job.name ?? '?',
    image: '',
    gpus_requested: job.gpus_requested ?? 0,
    gpus: [],
    state: 'queued',
    submitted_at: job.submitted_at,
    time_limit: 0,
  };
}
