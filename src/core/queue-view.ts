// What `dopq q` shows, as one plain object: built from the state file, the jobs still waiting in
// the intake, and the clock. `--json` prints it as is; render.ts draws it as tables.
import type { Config } from './config.js';
import type { GpuInfo } from './gpus.js';
import { isFinished, type JobRecord, type JobState } from './job.js';
import { stateUsage, type CarriedUsage } from './penalty.js';
import { classicPenalties, type PolicyName } from './policy.js';
import { asQueued, schedulerInput, type SchedulingConfig } from './schedule-input.js';
import { planQueue } from './start-estimates.js';

export interface DaemonInfo {
  pid: number;
  started_at: number;
  host: string;
  heartbeat_at: number;
  /** Whether the daemon can reach the Docker engine; since when not (ms), and why. */
  engine?: EngineStatus;
}

export interface EngineStatus {
  reachable: boolean;
  since: number | null;
  error: string | null;
}

export interface StateFile {
  version: 1;
  jobs: JobRecord[];
  gpus: GpuInfo[];
  daemon: DaemonInfo | null;
  /** Usage of jobs pruned from history, per user, so forgetting old jobs keeps penalties right. */
  carried_usage?: CarriedUsage[];
  /** `dopq usage reset`: per user (or `*` for all), usage before this time (ms) no longer counts. */
  usage_resets?: Record<string, number>;
  /** The highest job number whose record has left the state (aged out, cleared, capped): never taken again. */
  retired_up_to?: number;
  /** `dopq pause`: no job starts until `dopq resume`. */
  paused?: { by: string; at: number } | null;
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

export type WaitReason = 'held' | 'paused' | 'reserved' | 'too-big' | 'user-cap' | 'image' | 'building';

export interface JobView {
  id: number;
  name: string;
  user: string;
  state: JobState;
  gpus: string[];
  gpus_requested: number;
  /** The owner's penalty (see UserView.penalty); null once finished. */
  penalty: number | null;
  /** Place in the start order among queued jobs that may start (held ones have none). */
  position: number | null;
  /** When it should start if running jobs use their whole time limits (ISO); null if unknown. */
  estimated_start: string | null;
  /** Why a queued job waits beyond its turn, when there is a specific reason. */
  waiting_for: WaitReason | null;
  held_by: string | null;
  submitted_at: string;
  started_at: string | null;
  finished_at: string | null;
  exit_code: number | null;
  reason: string | null;
  message: string | null;
  image: string | null;
  time_limit: number | null;
  ingested: boolean;
  /** Which run of the job this is: 2 or more after an engine restart killed an earlier one. */
  attempt: number;
}

export interface UserView {
  user: string;
  share: number;
  /** Decayed GPU-hours of finished and running work. */
  usage_gpu_hours: number;
  /** What the policy orders users by: fairshare, usage / share in GPU-hours; dopq-classic, DoPQ's history sum; fifo, null. */
  penalty: number | null;
  running: number;
  queued: number;
  gpus_held: number;
}

export interface QueueView {
  daemon: {
    running: boolean;
    pid: number | null;
    since: string | null;
    host: string | null;
    /** Whether the daemon reaches the Docker engine; `since` (ISO) it could not, and why. */
    engine: { reachable: boolean; since: string | null; error: string | null } | null;
    /** Set while the daemon cannot save the state (a full disk): running jobs go on, none start. */
    state_not_saved: { since: string; error: string } | null;
  };
  policy: PolicyName;
  paused: { by: string; since: string } | null;
  /** The first job that does not fit, and the GPUs kept for it. */
  reservation: { job: number; at: string; gpus: string[] } | null;
  gpus: { id: string; index: number; name: string | null; state: 'free' | 'held' | 'busy'; job: number | null }[];
  gpus_free: number;
  gpus_total: number;
  jobs: JobView[];
  users: UserView[];
  generated_at: string;
}

export interface ViewOptions {
  now: number;
  config: SchedulingConfig & Pick<Config, 'defaults'>;
  /** Shares of the users in the state (absent: 1). */
  shares: ReadonlyMap<string, number>;
  /** Whether the daemon that wrote `daemon` is alive (the caller checks the pid). */
  daemonAlive: boolean;
  /** What the daemon's status file says (it can say it where the state cannot be saved). */
  status?: { at: number; engine: EngineStatus; save_error: { since: number; error: string } | null };
  /** Show finished jobs of all time, not just the last `recentMs`. */
  all: boolean;
  recentMs?: number;
}

const iso = (ms: number | null | undefined): string | null => (ms === undefined || ms === null ? null : new Date(ms).toISOString());

export function buildQueueView(state: StateFile, pending: readonly PendingJob[], options: ViewOptions): QueueView {
  const { now, config } = options;
  const known = new Set(state.jobs.map((job) => job.id));
  const unread = pending.filter((job) => !known.has(job.id)).map((job) => pendingAsRecord(job, config.defaults.time_limit));
  const waiting = [...state.jobs.filter((job) => job.state === 'queued' || job.state === 'building'), ...unread];
  const input = schedulerInput(state, config, { now, shares: options.shares, extraQueued: unread.map(asQueued) });
  const plan = planQueue(input);
  const position = new Map(plan.order.map((job, i) => [job.id, i + 1]));
  const usage = stateUsage(state, now, config.penalty.half_life);
  const classic = config.policy === 'dopq-classic' ? classicPenalties(input.history, config.penalty.classic_history) : undefined;
  const shareOf = (user: string) => options.shares.get(user) ?? 1;
  const penaltyOf = (user: string): number | null =>
    config.policy === 'fifo' ? null : classic ? (classic.get(user) ?? 0) : (usage.get(user) ?? 0) / shareOf(user) / 3600;
  const waitingFor = (job: JobRecord): WaitReason | null => {
    if (job.state === 'building') return 'building';
    if (job.needs_image) return 'image';
    if (job.held_by) return 'held';
    if (state.paused) return 'paused';
    if (plan.decisions.reservation?.id === job.id) return 'reserved';
    return plan.blocked.get(job.id) ?? null;
  };

  const recent = options.recentMs ?? 24 * 3600 * 1000;
  const running = state.jobs.filter((job) => job.state === 'running');
  const shown = [...state.jobs.filter((job) => job.state !== 'queued' && job.state !== 'building'), ...waiting].filter(
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
      penalty: isFinished(job) ? null : penaltyOf(job.user),
      position: position.get(job.id) ?? null,
      estimated_start: job.state === 'queued' ? iso(plan.estimates.get(job.id)) : null,
      waiting_for: job.state === 'queued' || job.state === 'building' ? waitingFor(job) : null,
      held_by: job.held_by ?? null,
      submitted_at: iso(job.submitted_at)!,
      started_at: iso(job.started_at),
      finished_at: iso(job.finished_at),
      exit_code: job.exit_code ?? null,
      reason: job.reason ?? null,
      message: job.message ?? null,
      image: job.image === '' ? null : job.image,
      time_limit: job.time_limit > 0 && (known.has(job.id) || !pendingIds.has(job.id)) ? job.time_limit : null,
      ingested: !pendingIds.has(job.id) || known.has(job.id),
      attempt: job.attempt ?? 1,
    }))
    .sort((a, b) => a.id - b.id);

  const users = new Map<string, UserView>();
  const userView = (user: string): UserView => {
    let view = users.get(user);
    if (!view) {
      view = { user, share: shareOf(user), usage_gpu_hours: (usage.get(user) ?? 0) / 3600, penalty: penaltyOf(user), running: 0, queued: 0, gpus_held: 0 };
      users.set(user, view);
    }
    return view;
  };
  for (const user of usage.keys()) userView(user);
  for (const job of running) {
    const view = userView(job.user);
    view.running += 1;
    view.gpus_held += job.gpus.length;
  }
  for (const job of waiting) userView(job.user).queued += 1;

  const holder = new Map(running.flatMap((job) => job.gpus.map((gpu) => [gpu, job.id] as const)));
  const free = new Set(input.free);
  const gpus = state.gpus.map((gpu) => ({
    id: gpu.id,
    index: gpu.index,
    name: gpu.name ?? null,
    state: holder.has(gpu.id) ? ('held' as const) : free.has(gpu.id) ? ('free' as const) : ('busy' as const),
    job: holder.get(gpu.id) ?? null,
  }));
  const reservation = plan.decisions.reservation;

  return {
    daemon: {
      running: options.daemonAlive && state.daemon !== null,
      pid: state.daemon?.pid ?? null,
      since: options.daemonAlive ? iso(state.daemon?.started_at) : null,
      host: state.daemon?.host ?? null,
      ...daemonHealth(state, options),
    },
    policy: config.policy,
    paused: state.paused ? { by: state.paused.by, since: iso(state.paused.at)! } : null,
    reservation: reservation ? { job: reservation.id, at: iso(reservation.at)!, gpus: reservation.gpus } : null,
    gpus,
    gpus_free: gpus.filter((gpu) => gpu.state === 'free').length,
    gpus_total: gpus.length,
    jobs,
    users: [...users.values()].sort((a, b) => (a.penalty ?? 0) - (b.penalty ?? 0) || a.user.localeCompare(b.user)),
    generated_at: new Date(now).toISOString(),
  };
}

/** The engine and save status, from the status file when it is newer than the state. */
function daemonHealth(state: StateFile, options: ViewOptions): Pick<QueueView['daemon'], 'engine' | 'state_not_saved'> {
  if (!options.daemonAlive) return { engine: null, state_not_saved: null };
  const fromStatus = options.status && options.status.at >= (state.daemon?.heartbeat_at ?? 0) ? options.status : undefined;
  const engine = fromStatus?.engine ?? state.daemon?.engine;
  const saveError = fromStatus?.save_error ?? null;
  return {
    engine: engine ? { reachable: engine.reachable, since: iso(engine.since ?? undefined), error: engine.error } : null,
    state_not_saved: saveError ? { since: iso(saveError.since)!, error: saveError.error } : null,
  };
}

function pendingAsRecord(job: PendingJob, defaultTimeLimit: number): JobRecord {
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
    time_limit: defaultTimeLimit, // its own is unknown until the daemon reads it
  };
}
