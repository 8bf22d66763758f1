// What `dopq q` shows, as one plain object: built from the state file, the jobs still waiting in
// the intake, and the clock. `--json` prints it as is; render.ts draws it as tables.
import type { Config } from '../config/config.js';
import { isFinished, type JobRecord, type JobState } from '../job/job.js';
import { staticInventory, type GpuInfo } from '../schedule/gpus.js';
import { stateUsage } from '../schedule/penalty.js';
import { classicPenalties, type PolicyName } from '../schedule/policy.js';
import { asQueued, schedulerInput, type SchedulingConfig } from '../schedule/schedule-input.js';
import { planQueue, type QueuePlan } from '../schedule/start-estimates.js';
import type { EngineStatus, PendingJob, StateFile } from '../state.js';
import type { Usage, UsageSummary } from '../job/usage.js';

export type WaitReason = 'held' | 'paused' | 'reserved' | 'too-big' | 'user-cap' | 'image' | 'building' | 'dependency' | 'array-limit';

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
  /** A task of a job array: the array's id (its first task's job id), this task's index, the size and the `%N` cap. */
  array: { id: number; index: number; size: number; throttle: number | null } | null;
  /** Runs after these jobs ended `done` / ended at all ([] when none). */
  after: number[];
  after_any: number[];
  /** A terminal job (`dopq shell`), reached with `dopq attach`. */
  interactive: boolean;
  /** A running job's latest usage sample (`telemetry.interval`); null otherwise or before the first. */
  usage: Usage | null;
  /** A running job whose GPUs stayed under `idle.threshold` for `idle.after`. */
  idle: boolean;
  /** A finished job's usage, mean and peak; null when it was never sampled. */
  usage_summary: UsageSummary | null;
  /** `backend: slurm`: the job in Slurm (its id, state word, node, why it waits, its priority); null before it is submitted. */
  slurm?: { job_id: number; state: string | null; node: string | null; reason: string | null; priority: number | null } | null;
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
  /** `backend: slurm`: Slurm's fair-share factor (0..1, the higher the sooner), from sshare; null where Slurm has none. */
  fairshare?: number | null;
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
    /** The daemon's last config reload (null: none since it started): refused with errors, or keys waiting for a restart. */
    reload?: { at: string; by: string; applied: boolean; errors: string[]; pending_restart: string[] } | null;
  };
  policy: PolicyName;
  paused: { by: string; since: string } | null;
  /** The first job that does not fit, and the GPUs kept for it. */
  reservation: { job: number; at: string; gpus: string[] } | null;
  gpus: { id: string; index: number; name: string | null; state: 'free' | 'held' | 'busy'; job: number | null }[];
  gpus_free: number;
  gpus_total: number;
  /**
   * Where `gpus` comes from: the daemon's last scan; the config's list before the daemon's first
   * pass; or unknown then with `gpus: auto` (no estimates until the daemon has looked).
   */
  gpus_source: 'daemon' | 'config' | 'unknown';
  jobs: JobView[];
  users: UserView[];
  generated_at: string;
  /** Where jobs run: this host's engine, or a Slurm cluster that orders them (positions and estimates are Slurm's). */
  backend?: 'docker' | 'slurm';
}

export interface ViewOptions {
  now: number;
  config: SchedulingConfig & Pick<Config, 'defaults' | 'gpus'> & Partial<Pick<Config, 'backend'>>;
  /** Shares of the users in the state (absent: 1). */
  shares: ReadonlyMap<string, number>;
  /** Whether the daemon that wrote `daemon` is alive (the caller checks the pid). */
  daemonAlive: boolean;
  /** What the daemon's status file says (it can say it where the state cannot be saved). */
  status?: {
    at: number;
    engine: EngineStatus;
    save_error: { since: number; error: string } | null;
    reload?: { at: number; by: string; applied: boolean; errors: string[]; pending_restart: string[] } | null;
    /** The daemon that wrote it: a status left by another daemon says nothing of this one's reloads. */
    pid?: number;
  };
  /** Show finished jobs of all time, not just the last `recentMs`. */
  all: boolean;
  recentMs?: number;
  /** No state file yet: no daemon has passed, so the GPUs are the config's (or unknown with `gpus: auto`). */
  noStateYet?: boolean;
}

const iso = (ms: number | null | undefined): string | null => (ms === undefined || ms === null ? null : new Date(ms).toISOString());

export function buildQueueView(state: StateFile, pending: readonly PendingJob[], options: ViewOptions): QueueView {
  const { now, config } = options;
  const known = new Set(state.jobs.map((job) => job.id));
  const unreadJobs = pending.filter((job) => !known.has(job.id));
  const unread = unreadJobs.map((job) => pendingAsRecord(job, config.defaults));
  const waiting = [...state.jobs.filter(isWaiting), ...unread];
  const running = state.jobs.filter((job) => job.state === 'running');
  const inventory = gpuInventory(state, config, options);
  const seen = { ...state, gpus: inventory.gpus };
  const input = schedulerInput(seen, config, { now, shares: options.shares, extraQueued: unread.map(asQueued) });
  const plan = planQueue(input);
  const standing = userStanding(state, input.history, options);
  const gpus = gpuViews(seen, running, input.free);
  const reservation = inventory.source === 'unknown' || config.backend === 'slurm' ? undefined : plan.decisions.reservation;
  const origin: JobOrigin = {
    known,
    pending: new Set(pending.map((job) => job.id)),
    // Another user's file, unread: its GPUs are unknown (the plan counts the default for it).
    gpusUnknown: new Set(unreadJobs.filter((job) => job.gpus_requested === undefined && job.name === undefined).map((job) => job.id)),
    gpusKnown: inventory.source !== 'unknown',
  };
  const slurm = config.backend === 'slurm';
  const position = slurm ? slurmOrder(state.jobs) : new Map(plan.order.map((job, i) => [job.id, i + 1]));
  const shown = [...state.jobs.filter((job) => !isWaiting(job)), ...waiting].filter((job) => isShown(job, options));

  return {
    daemon: daemonView(state, options),
    policy: config.policy,
    paused: state.paused ? { by: state.paused.by, since: iso(state.paused.at)! } : null,
    reservation: reservation ? { job: reservation.id, at: iso(reservation.at)!, gpus: reservation.gpus } : null,
    gpus,
    gpus_free: gpus.filter((gpu) => gpu.state === 'free').length,
    gpus_total: gpus.length,
    gpus_source: inventory.source,
    jobs: shown.map((job) => jobView(job, { state, plan, position, standing, origin, slurm })).sort((a, b) => a.id - b.id),
    users: slurm ? withSlurmShares(userViews(standing, running, waiting), state) : userViews(standing, running, waiting),
    generated_at: new Date(now).toISOString(),
    backend: slurm ? 'slurm' : 'docker',
  };
}

const isWaiting = (job: JobRecord): boolean => job.state === 'queued' || job.state === 'building';

/** Every job not finished, and finished ones from the last `recentMs` unless all are asked for. */
function isShown(job: JobRecord, options: ViewOptions): boolean {
  const recent = options.recentMs ?? 24 * 3600 * 1000;
  return options.all || !isFinished(job) || (job.finished_at ?? options.now) >= options.now - recent;
}

/** How the policy ranks users now: share, decayed usage (GPU-seconds) and penalty. */
interface UserStanding {
  usage: Map<string, number>;
  share(user: string): number;
  penalty(user: string): number | null;
}

function userStanding(state: StateFile, history: readonly string[], options: ViewOptions): UserStanding {
  const { now, config } = options;
  const usage = stateUsage(state, now, config.penalty.half_life);
  const classic = config.policy === 'dopq-classic' ? classicPenalties(history, config.penalty.classic_history) : undefined;
  const share = (user: string) => options.shares.get(user) ?? 1;
  const penalty = (user: string): number | null =>
    config.policy === 'fifo' ? null : classic ? (classic.get(user) ?? 0) : (usage.get(user) ?? 0) / share(user) / 3600;
  return { usage, share, penalty };
}

/** Which jobs the daemon has read (`known`, in the state) and which still lie in the intake. */
interface JobOrigin {
  known: ReadonlySet<number>;
  pending: ReadonlySet<number>;
  /** Jobs in the intake whose GPU count the caller may not read. */
  gpusUnknown: ReadonlySet<number>;
  /** Whether the GPUs are known at all, so that estimates mean something. */
  gpusKnown: boolean;
}

/**
 * The GPUs to plan with: the daemon's last scan; before any daemon wrote the state, the config's
 * static list (what the daemon will use) or, with `gpus: auto`, none known.
 */
function gpuInventory(
  state: StateFile,
  config: Pick<Config, 'gpus'>,
  options: ViewOptions,
): { gpus: GpuInfo[]; source: QueueView['gpus_source'] } {
  if (state.gpus.length > 0 || !options.noStateYet) return { gpus: state.gpus, source: 'daemon' };
  return config.gpus === 'auto' ? { gpus: [], source: 'unknown' } : { gpus: staticInventory(config.gpus), source: 'config' };
}

/** What a job's row needs beside the job: the plan, its place in it, the users' standing, where it lies. */
interface JobContext {
  state: StateFile;
  plan: QueuePlan;
  /** Place in the start order (from 1) of each queued job that may start. */
  position: ReadonlyMap<number, number>;
  standing: UserStanding;
  origin: JobOrigin;
  /** `backend: slurm`: Slurm orders and estimates; dopq's plan says nothing of when a job starts. */
  slurm: boolean;
}

function jobView(job: JobRecord, { state, plan, position, standing, origin, slurm }: JobContext): JobView {
  const ingested = !origin.pending.has(job.id) || origin.known.has(job.id);
  return {
    id: job.id,
    name: job.name,
    user: job.user,
    state: job.state,
    gpus: job.gpus,
    gpus_requested: origin.gpusUnknown.has(job.id) ? 0 : job.gpus_requested,
    penalty: isFinished(job) ? null : standing.penalty(job.user),
    position: position.get(job.id) ?? null,
    estimated_start:
      job.state !== 'queued' ? null : slurm ? iso(job.slurm?.start_estimate) : origin.gpusKnown ? iso(plan.estimates.get(job.id)) : null,
    waiting_for: !isWaiting(job)
      ? null
      : slurm
        ? slurmWaitReason(job, state)
        : waitReason(job, state, plan, origin.gpusKnown, position.has(job.id)),
    held_by: job.held_by ?? null,
    submitted_at: iso(job.submitted_at)!,
    started_at: iso(job.started_at),
    finished_at: iso(job.finished_at),
    exit_code: job.exit_code ?? null,
    reason: job.reason ?? null,
    message: job.message ?? null,
    image: job.image === '' ? null : job.image,
    // A job still in the intake has the default time limit only as a stand-in: its own is unknown.
    time_limit: job.time_limit > 0 && ingested ? job.time_limit : null,
    ingested,
    attempt: job.attempt ?? 1,
    array: job.array ?? null,
    after: job.after ?? [],
    after_any: job.after_any ?? [],
    interactive: job.interactive === true,
    usage: job.state === 'running' ? (job.usage ?? null) : null,
    idle: job.state === 'running' && job.idle === true,
    usage_summary: job.usage_summary ?? null,
    slurm:
      job.slurm_job_id === undefined
        ? null
        : {
            job_id: job.slurm_job_id,
            state: job.slurm?.state ?? null,
            node: job.slurm?.node ?? null,
            reason: job.slurm?.reason ?? null,
            priority: job.slurm?.priority ?? null,
          },
  };
}

/** `backend: slurm`: queued jobs in Slurm by its priority, highest first (held ones have no place). */
function slurmOrder(jobs: readonly JobRecord[]): Map<number, number> {
  const queued = jobs.filter((job) => job.state === 'queued' && !job.held_by && job.slurm_job_id !== undefined);
  queued.sort((a, b) => (b.slurm?.priority ?? -1) - (a.slurm?.priority ?? -1) || a.id - b.id);
  return new Map(queued.map((job, i) => [job.id, i + 1]));
}

/** `backend: slurm`: dopq's own reasons only (held, image, after other jobs, paused); Slurm's is in `slurm.reason`. */
function slurmWaitReason(job: JobRecord, state: StateFile): WaitReason | null {
  if (job.state === 'building') return 'building';
  if (job.needs_image) return 'image';
  if (job.held_by) return 'held';
  if (job.slurm_job_id === undefined && (job.after?.length || job.after_any?.length)) return 'dependency';
  if (job.slurm_job_id === undefined && state.paused) return 'paused';
  return null;
}

/** The users table with Slurm's fair-share standing (sshare): share and factor from Slurm, best standing first. */
function withSlurmShares(users: UserView[], state: StateFile): UserView[] {
  const rows = new Map((state.slurm_shares?.rows ?? []).map((row) => [row.user, row]));
  for (const user of rows.keys()) {
    // Every association's user (root's own is Slurm's, not a dopq user's).
    if (user !== 'root' && !users.some((view) => view.user === user))
      users.push({ user, share: 1, usage_gpu_hours: 0, penalty: null, running: 0, queued: 0, gpus_held: 0 });
  }
  return users
    .map((view) => {
      const row = rows.get(view.user);
      return { ...view, share: row?.raw_shares ?? view.share, penalty: null, fairshare: row?.fairshare ?? null };
    })
    .sort((a, b) => (b.fairshare ?? -1) - (a.fairshare ?? -1) || a.user.localeCompare(b.user));
}

/** Why a queued job waits beyond its turn, when there is a specific reason. */
function waitReason(job: JobRecord, state: StateFile, plan: QueuePlan, gpusKnown: boolean, planned: boolean): WaitReason | null {
  if (job.state === 'building') return 'building';
  if (job.needs_image) return 'image';
  if (job.held_by) return 'held';
  // Left out of the plan for its after:/after_any: jobs (schedule-input.ts): no estimate until they end.
  if (!planned && job.state === 'queued' && (job.after?.length || job.after_any?.length)) return 'dependency';
  if (state.paused) return 'paused';
  if (!gpusKnown) return null; // no GPUs to weigh it against yet
  if (plan.decisions.reservation?.id === job.id) return 'reserved';
  return plan.blocked.get(job.id) ?? null;
}

/** Every user with usage, running or waiting jobs, the least penalised first. */
function userViews(standing: UserStanding, running: readonly JobRecord[], waiting: readonly JobRecord[]): UserView[] {
  const users = new Map<string, UserView>();
  const userView = (user: string): UserView => {
    let view = users.get(user);
    if (!view) {
      const usage = standing.usage.get(user) ?? 0;
      view = {
        user,
        share: standing.share(user),
        usage_gpu_hours: usage / 3600,
        penalty: standing.penalty(user),
        running: 0,
        queued: 0,
        gpus_held: 0,
      };
      users.set(user, view);
    }
    return view;
  };
  for (const user of standing.usage.keys()) userView(user);
  for (const job of running) {
    const view = userView(job.user);
    view.running += 1;
    view.gpus_held += job.gpus.length;
  }
  for (const job of waiting) userView(job.user).queued += 1;
  return [...users.values()].sort((a, b) => (a.penalty ?? 0) - (b.penalty ?? 0) || a.user.localeCompare(b.user));
}

/** Each GPU: held by one of our jobs, free, or busy with someone else's process. */
function gpuViews(state: StateFile, running: readonly JobRecord[], free: readonly string[]): QueueView['gpus'] {
  const holder = new Map(running.flatMap((job) => job.gpus.map((gpu) => [gpu, job.id] as const)));
  const freeSet = new Set(free);
  return state.gpus.map((gpu) => ({
    id: gpu.id,
    index: gpu.index,
    name: gpu.name ?? null,
    state: holder.has(gpu.id) ? ('held' as const) : freeSet.has(gpu.id) ? ('free' as const) : ('busy' as const),
    job: holder.get(gpu.id) ?? null,
  }));
}

function daemonView(state: StateFile, options: ViewOptions): QueueView['daemon'] {
  return {
    running: options.daemonAlive && state.daemon !== null,
    pid: state.daemon?.pid ?? null,
    since: options.daemonAlive ? iso(state.daemon?.started_at) : null,
    host: state.daemon?.host ?? null,
    ...daemonHealth(state, options),
  };
}

/** The engine and save status, from the status file when it is newer than the state. */
function daemonHealth(state: StateFile, options: ViewOptions): Pick<QueueView['daemon'], 'engine' | 'state_not_saved' | 'reload'> {
  if (!options.daemonAlive) return { engine: null, state_not_saved: null, reload: null };
  const fromStatus = options.status && options.status.at >= (state.daemon?.heartbeat_at ?? 0) ? options.status : undefined;
  const engine = fromStatus?.engine ?? state.daemon?.engine;
  const saveError = fromStatus?.save_error ?? null;
  return {
    engine: engine ? { reachable: engine.reachable, since: iso(engine.since ?? undefined), error: engine.error } : null,
    state_not_saved: saveError ? { since: iso(saveError.since)!, error: saveError.error } : null,
    reload: reloadView(options.status?.pid === undefined || options.status.pid === state.daemon?.pid ? options.status?.reload : null),
  };
}

function reloadView(reload: NonNullable<ViewOptions['status']>['reload']): QueueView['daemon']['reload'] {
  if (!reload) return null;
  const { by, applied, errors, pending_restart } = reload;
  return { at: iso(reload.at)!, by, applied, errors, pending_restart };
}

/**
 * A job still in the intake, as the plan counts it: a manifest without `gpus` asks for the
 * default, and so is another user's unread file assumed to (its own count is unknown to us).
 */
function pendingAsRecord(job: PendingJob, defaults: Config['defaults']): JobRecord {
  return {
    id: job.id,
    user: job.user,
    uid: job.uid,
    name: job.name ?? '?',
    image: '',
    gpus_requested: job.gpus_requested ?? defaults.gpus,
    gpus: [],
    state: 'queued',
    submitted_at: job.submitted_at,
    time_limit: defaults.time_limit, // its own is unknown until the daemon reads it
  };
}
