// A running job's container: starting it, saving its output, recording how it ended.
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { containerSpec } from '../core/container-spec.js';
import { afterEngineRestart, afterHostFault, failToStart, finishJob, refuseJob, type JobRecord, type JobSpec } from '../core/job.js';
import { killedByEngineRestart } from '../core/engine-faults.js';
import { noteEngineError, refreshEngineStart } from './engine-health.js';
import { dockerMessage } from '../io/docker.js';
import { jobById, replaceJob, type DaemonContext } from './context.js';
import { forbiddenPaths, MountDenied, StartRefused, outputBind, resolveBinds } from './mounts.js';
import { accountOf } from '../io/users.js';
import { appendToJobLog } from '../io/job-log.js';
import { ImageRefused, resolveForUser } from './image-guard.js';

export async function loadSpec(ctx: DaemonContext, id: number): Promise<JobSpec | undefined> {
  const cached = ctx.specs.get(id);
  if (cached) return cached;
  try {
    const spec = JSON.parse(await readFile(path.join(ctx.spool.jobs, `${id}.json`), 'utf8')) as JobSpec;
    spec.image ??= spec.manifest.image ?? ''; // job files written before `image` was recorded
    ctx.specs.set(id, spec);
    return spec;
  } catch {
    return undefined;
  }
}

export function logFile(ctx: DaemonContext, id: number): string {
  return path.join(ctx.spool.logs, `${id}.log`);
}

/**
 * Create the container of a job already marked running on `job.gpus` (that record is on disk).
 * Returns the job with its container's ID, to be saved before the container starts, or how the
 * job ended instead. Nothing runs yet.
 */
export async function createJobContainer(ctx: DaemonContext, job: JobRecord): Promise<JobRecord> {
  const spec = await loadSpec(ctx, job.id);
  if (!spec) return failToStart(job, 'the job file in the spool is missing', ctx.now());
  try {
    // Identity from the user database now, not from the manifest or the dropped file's group.
    const account = await accountOf(spec.uid);
    if (!account) throw new StartRefused(`uid ${spec.uid} is no longer a user on this machine`);
    // The container gets the image ID the engine resolved and dopq judged, so no name can be
    // re-pointed between the check and the create.
    const image = await resolveForUser(ctx, spec.uid, spec.image, 'image');
    const owner = { user: account.user, uid: spec.uid, gid: account.gid, groups: [...account.groups.values()] };
    const binds = await resolveBinds(spec.manifest.mounts, ctx.config.mounts.allowed_roots, await forbiddenPaths(ctx.config), owner);
    const output = await outputBind(ctx.config, account.user, spec.uid, account.gid);
    if (output) binds.push(output);
    const groups = ctx.config.container_groups.flatMap((name) => (account.groups.has(name) ? [account.groups.get(name)!] : []));
    const container = containerSpec({ ...spec, image: image.id }, job.gpus, ctx.config, ctx.instance, { gid: account.gid, groups, binds });
    return { ...job, container_id: await ctx.engine.create(container) };
  } catch (error) {
    return startFailure(ctx, job, error);
  }
}

/** Start a job's container created (and recorded) earlier; returns the job as it now stands. */
export async function startJobContainer(ctx: DaemonContext, job: JobRecord): Promise<JobRecord> {
  if (!job.container_id) return job;
  try {
    const engineStartedAt = ctx.health.startedAt;
    await ctx.engine.startCreated(job.container_id, ctx.config.keep_containers > 0);
    ctx.log.info(`started ${job.name} on GPUs [${job.gpus.join(',')}] as ${job.container_id.slice(0, 12)}${(job.attempt ?? 1) > 1 ? ` (attempt ${job.attempt})` : ''}`, job.id);
    const { start_failures: _f, ...started } = job;
    return { ...started, ...(engineStartedAt !== undefined ? { engine_started_at: engineStartedAt } : {}) };
  } catch (error) {
    return startFailure(ctx, job, error);
  }
}

/** What a failed create or start makes of the job, by whose fault it was. */
async function startFailure(ctx: DaemonContext, job: JobRecord, error: unknown): Promise<JobRecord> {
  if (error instanceof ImageRefused && error.kind === 'foreign-image') {
    ctx.log.error(`refused: ${error.message}`, job.id);
    return refuseJob(job, 'foreign-image', error.message, ctx.now());
  }
  if (error instanceof MountDenied) {
    ctx.log.error(`refused: ${error.message}`, job.id);
    return refuseJob(job, 'mount-denied', error.message, ctx.now());
  }
  if (error instanceof ImageRefused || error instanceof StartRefused) {
    ctx.log.error(`failed to start: ${error.message}`, job.id);
    return failToStart(job, error.message, ctx.now());
  }
  // Docker's own words can quote the job's command or environment: its owner's log only.
  const detail = dockerMessage(error);
  const fault = noteEngineError(ctx, error);
  if (fault === 'unreachable') {
    // Not the job's doing, and not a try: it waits for the engine like every other job.
    ctx.log.error(`not started: the engine is unreachable (${detail}); queued again`, job.id);
    const { started_at: _s, container_id: _c, engine_started_at: _e, ...rest } = job;
    return { ...rest, state: 'queued', gpus: [] };
  }
  await appendToJobLog(logFile(ctx, job.id), job.uid, `dopq: Docker could not start the container: ${detail}`).catch(() => undefined);
  if (fault === 'host') {
    const next = afterHostFault(job, publicStartFailure(detail, job.id), ctx.config.start_retries);
    ctx.log.error(`not started, the engine's or host's fault: ${detail}; ${next.held_by ? 'held' : 'queued again'}`, job.id);
    return next;
  }
  ctx.log.error(`failed to start: ${detail}`, job.id);
  return failToStart(job, publicStartFailure(detail, job.id), ctx.now());
}

/** What everyone may read of a failed start: dopq's words, never Docker's. */
function publicStartFailure(detail: string, id: number): string {
  if (/could not select device driver "nvidia"/.test(detail)) {
    return 'the engine cannot hand out GPUs: could not select device driver "nvidia" (is the NVIDIA container toolkit installed?)';
  }
  return `Docker could not start the container; its error is in dopq log ${id}`;
}

export interface LogSavers {
  ensure(ctx: DaemonContext, job: JobRecord): Promise<void>;
  abortAll(): void;
}

export function createLogSavers(): LogSavers {
  const running = new Map<number, Promise<void>>();
  const controller = new AbortController();
  return {
    ensure(ctx, job) {
      const existing = running.get(job.id);
      if (existing) return existing;
      if (!job.container_id) return Promise.resolve();
      const saving = ctx.engine
        .saveLogs(job.container_id, logFile(ctx, job.id), job.uid, controller.signal, ctx.config.limits.log_size)
        .catch((error: Error) => {
          if (!controller.signal.aborted) ctx.log.error(`log capture ended: ${dockerMessage(error)}`, job.id);
        })
        .finally(() => running.delete(job.id));
      running.set(job.id, saving);
      return saving;
    },
    abortAll() {
      controller.abort();
    },
  };
}

/**
 * If the job's container has exited: save its output, record the outcome, remove it.
 * Returns whether the job finished.
 */
export async function reap(ctx: DaemonContext, logs: LogSavers, id: number): Promise<boolean> {
  const job = jobById(ctx, id);
  if (!job || job.state !== 'running' || !job.container_id) return false;
  const exit = await ctx.engine.exitOf(job.container_id);
  if (!exit) return false;
  let restart = killedByEngineRestart(job, exit, ctx.health);
  if (restart === 'unsure') {
    // Killed by a signal: the engine may be shutting down this very moment (its die events come
    // before it goes). Look again once it has had time to show it.
    await refreshEngineStart(ctx);
    restart = killedByEngineRestart(job, exit, ctx.health);
    const since = ctx.suspects.get(id) ?? ctx.now();
    ctx.suspects.set(id, since);
    if (restart === 'unsure' && ctx.now() - since < ENGINE_SETTLE_MS) return false;
  }
  ctx.suspects.delete(id);
  await withDeadline(logs.ensure(ctx, job), 15_000);
  if (exit.error) await appendToJobLog(logFile(ctx, id), job.uid, `dopq: the engine reported: ${exit.error}`).catch(() => undefined);
  if (restart === true) {
    const next = afterEngineRestart(job, ctx.config.requeue_on_engine_restart && !job.no_requeue, exit, ctx.now());
    replaceJob(ctx, next);
    ctx.log.error(next.state === 'queued' ? `its container was killed by an engine restart; queued again as attempt ${next.attempt}` : 'its container was killed by an engine restart; failed (requeue: false)', id);
    ctx.removals.add(job.container_id); // a new attempt gets a new container of the same name
    return true;
  }
  const finished = finishJob(job, exit);
  replaceJob(ctx, finished);
  ctx.log.info(`${finished.state}: ${finished.reason}, exit code ${finished.exit_code ?? '-'}`, id);
  // Removed once the outcome is on disk; kept ones go later (reconcile, keep_containers).
  if (ctx.config.keep_containers === 0) ctx.removals.add(job.container_id);
  return true;
}

/** How long a container killed by an unexplained signal waits for an engine restart to show. */
export const ENGINE_SETTLE_MS = 5000;

function withDeadline(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() => clearTimeout(timer));
}
