// `dopq node-run ID` on a Slurm node, as root, from the job's batch script: checks the job in
// the spool again against this node's config and runs the same hardened container the
// single-host daemon runs, on the GPUs Slurm gave it, into the job's log; a stop (Slurm's TERM:
// a cancel or the time limit) stops and removes it. The container never outlives this process.
import { readFile, realpath } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import type { Config } from '../../core/config/config.js';
import { LABEL_SLURM_JOB, type ContainerSpec } from '../../core/job/container-spec.js';
import { DopqError, ExitCode, InvalidDocumentError, NotFoundError, PermissionError, UnsafeSpoolError } from '../../core/errors.js';
import type { JobSpec } from '../../core/job/job.js';
import { recheckManifest } from '../../core/job/manifest.js';
import { nodeRunRefusal, recordedSubmission, slurmAllocation, verifiedAllocation } from '../../core/slurm/node-job.js';
import { parseShowJob } from '../../core/slurm/show-job.js';
import { showJobLine } from '../../io/slurm/scontrol.js';
import { slurmJobName } from '../../core/slurm/sbatch.js';
import { dockerMessage } from '../../io/docker/docker.js';
import type { DockerEngine } from '../../io/docker/engine.js';
import { saveJobOutput } from '../../io/files/job-log.js';
import { readImageRecord } from '../../io/spool/image-record.js';
import { readState } from '../../io/spool/state-store.js';
import { spoolProblems, type SpoolPaths } from '../../io/spool/spool.js';
import { instanceId } from '../context.js';
import { ImageRefused } from '../images/image-guard.js';
import { hardenedContainer } from '../jobs/job-container.js';
import { MountDenied, StartRefused } from '../jobs/mounts.js';

export interface NodeRunContext {
  config: Config;
  spool: SpoolPaths;
  engine: DockerEngine;
  /** The helper's environment: Slurm's variables (through sudo's env_keep), SUDO_UID. */
  env: Readonly<Record<string, string | undefined>>;
  /** Aborted on SIGTERM or SIGINT: stop the container (grace), remove it, return its exit. */
  stop: AbortSignal;
}

/**
 * Seconds `docker stop` gives a job before SIGKILL on a node: `stop_grace`, as on one host, but
 * never more than `slurm.term_grace` (how early before the time limit the TERM comes). A cancel
 * gives Slurm's KillWait (30 s by default) before it kills the helper: keep stop_grace below it.
 */
export function nodeGrace(config: Config): number {
  const termGrace = (config as Config & { slurm?: { term_grace?: number } | null }).slurm?.term_grace;
  return termGrace === undefined ? config.stop_grace : Math.min(config.stop_grace, termGrace);
}

/** `slurm.bin`: the folder of Slurm's commands; undefined: found on PATH. */
function slurmBin(config: Config): string | undefined {
  return (config as Config & { slurm?: { bin?: string | null } | null }).slurm?.bin ?? undefined;
}

/** Run job `id`'s container to its end; resolves with its exit code (128+signal when stopped). */
export async function nodeRun(ctx: NodeRunContext, id: number): Promise<number> {
  const subject = `job ${id}`;
  // As `dopq run` does: a config or spool a user could change would let them choose what root runs
  // (and through sudo the caller may name any --config; only a root-owned one is taken).
  const problems = await spoolProblems(ctx.spool, ctx.config.file);
  if (problems.length > 0) throw new UnsafeSpoolError(ctx.spool.root, problems);
  const allocation = slurmAllocation(ctx.env);
  if (!allocation.ok) throw new DopqError('not-in-slurm', ExitCode.usage, allocation.problem, subject, { hint: NODE_RUN_HINT });
  const spec = await readSpec(ctx.spool, id);
  assertCaller(ctx.env, spec);
  let { allocation: slurm } = allocation;
  if (throughSudo(ctx.env)) {
    // The node's own slurm.conf: a SLURM_CONF of the caller's (a site's sudoers may keep it) would
    // name a controller of theirs, which vouches for anything.
    const line = await showJobLine(slurm.jobId, slurmBin(ctx.config));
    const verified = verifiedAllocation(parseShowJob(line), spec, slurm.jobId, hostname());
    if (!verified.ok) throw new PermissionError(subject, verified.problem);
    slurm = verified.allocation;
    await assertRecordedSubmission(ctx.spool, id, slurm.jobId);
  }
  const refusal = nodeRunRefusal(spec, slurm);
  if (refusal) throw new DopqError('refused', ExitCode.config, refusal, subject);
  const issues = recheckManifest(spec.manifest, ctx.config);
  if (issues.length > 0) throw new InvalidDocumentError('manifest', `${subject} (checked again against ${ctx.config.file})`, issues);

  const instance = instanceId(await realpath(ctx.spool.root));
  const images = await readImageRecord(ctx.spool.images);
  let container: ContainerSpec;
  try {
    container = await hardenedContainer({ config: ctx.config, engine: ctx.engine, images, instance }, spec, slurm.gpus, {
      [LABEL_SLURM_JOB]: slurm.jobId,
    });
  } catch (error) {
    throw refusedStart(error, subject);
  }
  if (ctx.stop.aborted) return STOPPED_BEFORE_START;
  const containerId = await ctx.engine.create(container);
  try {
    return await runCreated(ctx, spec, containerId);
  } finally {
    // Whatever happened, nothing of the job is left on the node (the epilog is the second net).
    await ctx.engine.remove(containerId).catch(() => undefined);
  }
}

/** What a shell reports for a process ended by SIGTERM: a job stopped before its container started. */
const STOPPED_BEFORE_START = 128 + 15;

const NODE_RUN_HINT = 'dopq node-run is started by the batch script dopq hands to sbatch, not by hand';

async function runCreated(ctx: NodeRunContext, spec: JobSpec, containerId: string): Promise<number> {
  const output = new AbortController();
  const log = path.join(ctx.spool.logs, `${spec.id}.log`);
  const { log_size: size, log_min_free: minFree } = ctx.config.limits;
  const grace = nodeGrace(ctx.config);
  let saving: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= ctx.engine.stop(containerId, grace).catch(() => undefined));
  ctx.stop.addEventListener('abort', stop, { once: true });
  try {
    // Attached before the start, so the log holds the output from its first byte. Slurm appends
    // its own lines (a cancel, a time limit) to the same file: kept, the output written after.
    const stream = await ctx.engine.attachOutput(containerId, output.signal, false);
    saving = saveJobOutput(stream, log, spec.uid, { size, minFree, root: ctx.spool.root }, { append: true });
    if (ctx.stop.aborted) {
      output.abort();
      await saving.catch(() => undefined);
      return STOPPED_BEFORE_START;
    }
    await ctx.engine.startCreated(containerId, false);
    // A TERM during the start found nothing running to stop: stopped now.
    if (ctx.stop.aborted) stopping = ctx.engine.stop(containerId, grace).catch(() => undefined);
    await saving;
    await stopping;
    const exit = await exitWhenKnown(ctx.engine, containerId);
    if (exit?.error) throw new DopqError('engine', ExitCode.unavailable, `the engine reported: ${exit.error}`, `job ${spec.id}`);
    return exit?.exitCode ?? ExitCode.internal;
  } catch (error) {
    output.abort();
    await saving?.catch(() => undefined);
    if (error instanceof DopqError) throw error;
    throw new DopqError('engine', ExitCode.unavailable, `Docker could not run the container: ${dockerMessage(error)}`, `job ${spec.id}`, {
      cause: error,
    });
  } finally {
    ctx.stop.removeEventListener('abort', stop);
  }
}

// The output stream ends as the container does; the engine records the exit a moment later.
async function exitWhenKnown(engine: DockerEngine, containerId: string): ReturnType<DockerEngine['exitOf']> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const exit = await engine.exitOf(containerId);
    if (exit) return exit;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return undefined;
}

async function readSpec(spool: SpoolPaths, id: number): Promise<JobSpec> {
  const file = path.join(spool.jobs, `${id}.json`);
  let spec: JobSpec;
  try {
    spec = JSON.parse(await readFile(file, 'utf8')) as JobSpec;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new NotFoundError(`job ${id}`, code === 'ENOENT' ? `no job file ${file} in the spool` : `its job file ${file} cannot be read`, {
      hint: 'the spool must be on a file system every node shares, at the same path',
      cause: error,
    });
  }
  if (spec.id !== id || !Number.isSafeInteger(spec.uid) || typeof spec.image !== 'string')
    throw new NotFoundError(`job ${id}`, `${file} is not this job's file`);
  return spec;
}

/** How long node-run waits for the daemon to save a Slurm id it wrote its submission ahead for (a pass sbatches every due job before it saves). */
const RECORD_PATIENCE_MS = 10 * 60_000;

/** The daemon's state must name this Slurm job as job `id`'s (recordedSubmission); waits while the id is not saved yet. */
async function assertRecordedSubmission(spool: SpoolPaths, id: number, jobId: string): Promise<void> {
  const until = Date.now() + RECORD_PATIENCE_MS;
  for (;;) {
    const state = await readState(spool.state);
    const check = recordedSubmission(
      state.jobs.find((job) => job.id === id),
      id,
      jobId,
    );
    if (check.ok) return;
    if (!check.wait || Date.now() >= until) throw new PermissionError(`job ${id}`, check.problem);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** Started by a user through sudo (the batch script's way): Slurm's variables are theirs, not proof. */
function throughSudo(env: Readonly<Record<string, string | undefined>>): boolean {
  return env['SUDO_UID'] !== undefined && env['SUDO_UID'] !== '0';
}

/**
 * Through sudo, only the job's owner may start its container, and only from the Slurm job dopq
 * submitted for it (its name and user, as Slurm set them, where sudo kept them).
 */
function assertCaller(env: Readonly<Record<string, string | undefined>>, spec: JobSpec): void {
  const subject = `job ${spec.id}`;
  const sudoUid = env['SUDO_UID'];
  if (sudoUid !== undefined && sudoUid !== '0' && sudoUid !== String(spec.uid))
    throw new PermissionError(subject, `uid ${sudoUid} may not run job ${spec.id}: it is ${spec.user}'s`);
  const name = env['SLURM_JOB_NAME'];
  if (name !== undefined && name !== slurmJobName(spec.id))
    throw new PermissionError(subject, `the Slurm job is ${JSON.stringify(name)}, not ${slurmJobName(spec.id)}`);
  const slurmUid = env['SLURM_JOB_UID'];
  if (slurmUid !== undefined && slurmUid !== String(spec.uid))
    throw new PermissionError(subject, `the Slurm job runs as uid ${slurmUid}, the job is ${spec.user}'s (uid ${spec.uid})`);
}

/** Why a job may not start here, as the owner reads it (their job's log holds it). */
function refusedStart(error: unknown, subject: string): unknown {
  if (error instanceof MountDenied || (error instanceof ImageRefused && error.kind === 'foreign-image'))
    return new PermissionError(subject, `refused: ${error.message}`);
  if (error instanceof ImageRefused || error instanceof StartRefused)
    return new DopqError('start-refused', ExitCode.unavailable, `cannot start: ${error.message}`, subject);
  return error;
}
