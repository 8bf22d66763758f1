// A running job's container: starting it, saving its output, recording how it ended.
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { beyondHost } from '../../core/config/fit-host.js';
import { afterEngineRestart, afterHostFault, failToStart, finishJob, refuseJob, type JobRecord, type JobSpec } from '../../core/job/job.js';
import { jobEvent } from '../../core/job/job-events.js';
import { killedByEngineRestart } from '../../core/engine-faults.js';
import { noteEngineError, refreshEngineStart } from '../engine-health.js';
import { dockerMessage } from '../../io/docker/docker.js';
import { jobById, replaceJob, type DaemonContext } from '../context.js';
import { MountDenied, StartRefused } from './mounts.js';
import { hardenedContainer } from './job-container.js';
import { appendToJobLog, saveJobOutput, type OutputLimits } from '../../io/files/job-log.js';
import { ImageRefused } from '../images/image-guard.js';
import { closeSession, openSession, sessionExit } from './sessions.js';

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
  // Queued before the host shrank (or under a default above it): the engine would only say "Range of CPUs".
  const beyond = ctx.config.host && beyondHost(spec.manifest, ctx.config.host);
  if (beyond) {
    ctx.log.error(`failed: ${beyond}`, job.id);
    return { ...failToStart(job, beyond, ctx.now()), reason: 'exceeds-host' };
  }
  try {
    const container = await hardenedContainer(ctx, spec, job.gpus);
    return { ...job, container_id: await ctx.engine.create(container) };
  } catch (error) {
    return startFailure(ctx, job, error);
  }
}

/**
 * Start a job's container created (and recorded) earlier; returns the job as it now stands. Its
 * output is attached first and saved from the first byte (LogSavers.ensure takes that on).
 */
export async function startJobContainer(ctx: DaemonContext, job: JobRecord): Promise<JobRecord> {
  if (!job.container_id) return job;
  let output: Awaited<ReturnType<typeof attachOutput>> | undefined;
  try {
    const engineStartedAt = ctx.health.startedAt;
    output = await attachOutput(ctx, job, job.container_id);
    await openSession(ctx, job); // an interactive job's terminal, attached before its first prompt
    await ctx.engine.startCreated(job.container_id, ctx.config.keep_containers > 0);
    output.settle(true);
    ctx.log.info(
      `started ${job.name} on GPUs [${job.gpus.join(',')}] as ${job.container_id.slice(0, 12)}${(job.attempt ?? 1) > 1 ? ` (attempt ${job.attempt})` : ''}`,
      job.id,
    );
    const { start_failures: _f, ...rest } = job;
    const started = { ...rest, ...(engineStartedAt !== undefined ? { engine_started_at: engineStartedAt } : {}) };
    ctx.onJobEvent?.(jobEvent('start', started));
    return started;
  } catch (error) {
    closeSession(ctx, job.id, undefined);
    if (output) {
      // Done with the log before the failure is written into it.
      attachedOf(ctx).delete(job.container_id);
      output.settle(false);
      output.abort();
      await output.done;
    }
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

/** A container's output being saved into its job's log. */
interface Saving {
  done: Promise<void>;
  abort(): void;
}

// The daemon starts containers (startJobContainer) and then asks for their output to be saved
// (LogSavers.ensure): what a start attached waits here, by container, until ensure takes it on.
const attached = new WeakMap<DaemonContext, Map<string, Saving>>();

function attachedOf(ctx: DaemonContext): Map<string, Saving> {
  let map = attached.get(ctx);
  if (!map) attached.set(ctx, (map = new Map()));
  return map;
}

// Attached before the start: the engine's own log rotates at limits.log_size, so following it
// after the start could miss the head of a job that prints fast. The saving is registered before
// the first await, so a reconcile that runs meanwhile hands it on instead of following the same
// container's log into the same file. A failed attach falls back to that follow, once started.
async function attachOutput(ctx: DaemonContext, job: JobRecord, containerId: string): Promise<Saving & { settle(follow: boolean): void }> {
  const controller = new AbortController();
  let resolveDone!: (saving: Promise<void>) => void;
  const done = new Promise<Promise<void>>((resolve) => (resolveDone = resolve)).then((saving) => saving);
  const save = (stream: Promise<NodeJS.ReadableStream>) =>
    stream
      .then((source) => saveJobOutput(source, logFile(ctx, job.id), job.uid, outputLimits(ctx, job.id)))
      .catch((error: Error) => {
        if (!controller.signal.aborted) ctx.log.error(`log capture ended: ${dockerMessage(error)}`, job.id);
      });
  const tty = job.interactive === true;
  const saving = {
    done,
    abort: () => controller.abort(),
    // Called after the start (or its failure) when the attach did not work: follow, or nothing.
    settle: (follow: boolean) =>
      resolveDone(follow ? save(ctx.engine.followOutput(containerId, controller.signal, tty)) : Promise.resolve()),
  };
  attachedOf(ctx).set(containerId, saving);
  try {
    const stream = await ctx.engine.attachOutput(containerId, controller.signal, tty);
    resolveDone(save(Promise.resolve(stream)));
    saving.settle = () => {};
  } catch (error) {
    ctx.log.error(`could not attach to the output before the start (${dockerMessage(error)}); following the engine's log instead`, job.id);
  }
  return saving;
}

function outputLimits(ctx: DaemonContext, id: number): OutputLimits {
  const { log_size: size, log_min_free: minFree } = ctx.config.limits;
  return { size, minFree, root: ctx.spool.root, onChange: (message) => ctx.log.info(message, id) };
}

export interface LogSavers {
  /** Save the output of a job's running container, once: attached at its start, else followed. */
  ensure(ctx: DaemonContext, job: JobRecord): Promise<void>;
  abortAll(): void;
}

export function createLogSavers(): LogSavers {
  // By container, kept once saved to the end: a later ensure (reap's) must not follow the
  // engine's log again and rewrite a whole log with its rotated tail. A requeued job's next
  // attempt has a new container.
  const savings = new Map<string, Promise<void>>();
  const controller = new AbortController();
  // abortAll() stops every saving still going; each listens only while it goes, so a daemon that
  // ran thousands of jobs does not hold a listener (and the saving's closure) for each of them.
  const whileSaving = (saving: Promise<void>, abort: () => void) => {
    if (controller.signal.aborted) return abort();
    controller.signal.addEventListener('abort', abort, { once: true });
    const stopListening = () => controller.signal.removeEventListener('abort', abort);
    saving.then(stopListening, stopListening);
  };
  return {
    ensure(ctx, job) {
      const id = job.container_id;
      if (!id) return Promise.resolve();
      const existing = savings.get(id);
      if (existing) return existing;
      const handed = attachedOf(ctx).get(id);
      if (handed) {
        attachedOf(ctx).delete(id);
        whileSaving(handed.done, handed.abort);
        savings.set(id, handed.done);
        return handed.done;
      }
      // Adopted after a daemon restart: attaching is too late, the engine's log is what is left.
      let failed = false;
      const own = new AbortController();
      const saving = ctx.engine
        .followOutput(id, own.signal, job.interactive === true)
        .then((stream) => saveJobOutput(stream, logFile(ctx, job.id), job.uid, outputLimits(ctx, job.id)))
        .catch((error: Error) => {
          failed = true;
          if (!controller.signal.aborted) ctx.log.error(`log capture ended: ${dockerMessage(error)}`, job.id);
        })
        .finally(() => {
          if (failed) savings.delete(id); // followed again by the next ensure, as before
        });
      whileSaving(saving, () => own.abort());
      savings.set(id, saving);
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
    ctx.log.error(
      next.state === 'queued'
        ? `its container was killed by an engine restart; queued again as attempt ${next.attempt}`
        : 'its container was killed by an engine restart; failed (requeue: false)',
      id,
    );
    ctx.removals.add(job.container_id); // a new attempt gets a new container of the same name
    // Queued again: no exit to report, the client is told and `dopq attach` waits for the next attempt.
    if (next.state === 'queued') closeSession(ctx, id, undefined, `an engine restart killed job ${id}'s container; it is queued again`);
    else closeSession(ctx, id, sessionExit(next));
    return true;
  }
  const finished = finishJob(job, exit);
  replaceJob(ctx, finished);
  ctx.log.info(`${finished.state}: ${finished.reason}, exit code ${finished.exit_code ?? '-'}`, id);
  closeSession(ctx, id, sessionExit(finished));
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
