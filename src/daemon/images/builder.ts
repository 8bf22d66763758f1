// Build ahead: while jobs wait, the daemon builds their images (`build:`) in the order they
// will start, `builds.parallel` at a time and `limits.per_user.builds` per user, each with a
// deadline. A build never holds a GPU and never blocks a pass: it runs beside the loop and
// asks for a pass when it ends.
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { refuseJob, type JobRecord, type JobSpec } from '../../core/job/job.js';
import { beyondHost } from '../../core/config/fit-host.js';
import { imagesOf } from '../../core/job/image-ownership.js';
import { chooseBuilds } from '../../core/schedule/build-slots.js';
import { buildOutputCutMarker, capOutput } from '../../core/job/output-cap.js';
import { checkBuildReferences } from './build-check.js';
import { loadArchive } from './image-load.js';
import { checkNewImage, ImageRefused, recordImage } from './image-guard.js';
import { noteEngineError } from '../engine-health.js';
import { dockerMessage } from '../../io/docker/docker.js';
import { diskShortage } from '../../io/files/disk.js';
import { readTarEntry } from '../../io/files/tar-entry.js';
import { buildCgroupName, makeBuildCgroup, removeBuildCgroup, sweepBuildCgroups, type BuildCgroup } from '../../io/docker/build-cgroup.js';
import { cleanBuildContext, ContextRefused } from '../../io/docker/context-clean.js';
import { jobById, replaceJob, type DaemonContext } from '../context.js';
import { contextTarPath } from '../intake/intake.js';
import { loadSpec } from '../jobs/lifecycle.js';

/** A build dopq will not run as asked; its message is dopq's own words, fit for everyone. */
export class BuildRefused extends Error {}

/** Why a job did not get its image: what everyone sees, and Docker's words for its owner's log. */
interface BuildFailure {
  message: string;
  detail?: string;
  /** Another user's image: the job ends rejected (foreign-image), not failed. */
  foreign?: boolean;
  /** The engine went away or restarted during the build: not the job's fault; build it again. */
  retry?: boolean;
}

/** How many of the owner's newest images a build may take cached steps from. */
const CACHE_IMAGES = 8;

export function buildLogFile(ctx: DaemonContext, id: number): string {
  return path.join(ctx.spool.logs, `${id}.build.log`);
}

export class Builder {
  /** Builds under way, by job id, with their owner's uid (for limits.per_user.builds). */
  private readonly active = new Map<number, { controller: AbortController; uid: number }>();
  private readonly running = new Set<Promise<void>>();
  private stopping = false;
  private cgroupDriver?: string;
  /** Cgroups an earlier daemon left, removed before this one makes its first. */
  private swept?: Promise<void>;

  constructor(
    private readonly ctx: DaemonContext,
    /** Called when a build ends: the state changed and a pass should record it. */
    private readonly onEnd: () => void,
  ) {}

  /** Jobs a daemon that stopped mid-build left `building`: they wait for a build again. */
  requeueInterrupted(): void {
    for (const job of this.ctx.state.jobs.filter((j) => j.state === 'building' && !this.active.has(j.id))) {
      const { build_started_at: _b, ...rest } = job;
      replaceJob(this.ctx, { ...rest, state: 'queued' });
      this.ctx.log.info('its build was interrupted; building again', job.id);
    }
  }

  /** Stop builds whose job is no longer building (cancelled); start the next ones in `order`. */
  tick(order: readonly number[]): void {
    for (const [id, { controller }] of this.active) {
      if (jobById(this.ctx, id)?.state !== 'building') controller.abort(new Error('the job was cancelled'));
    }
    const waiting = order
      .map((id) => jobById(this.ctx, id))
      .filter(
        (job): job is JobRecord => job !== undefined && job.state === 'queued' && job.needs_image !== undefined && !this.active.has(job.id),
      );
    const runningUids = [...this.active.values()].map((build) => build.uid);
    const limits = { parallel: this.ctx.config.builds.parallel, perUser: this.ctx.config.limits.per_user.builds };
    for (const id of chooseBuilds(waiting, runningUids, limits)) {
      const job = jobById(this.ctx, id)!;
      const started = { ...job, state: 'building' as const, build_started_at: this.ctx.now() };
      replaceJob(this.ctx, started);
      const building = this.build(started).finally(() => this.running.delete(building));
      this.running.add(building);
    }
  }

  /** The daemon is stopping: builds are abandoned, and the next daemon builds those jobs again. */
  async abortAll(): Promise<void> {
    this.stopping = true;
    for (const { controller } of this.active.values()) controller.abort(new Error('the daemon is stopping'));
    await this.idle();
  }

  get busy(): boolean {
    return this.running.size > 0;
  }

  /** Resolves once no build runs (`dopq run --once` waits for the builds it started). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running);
  }

  private async build(job: JobRecord): Promise<void> {
    const { ctx } = this;
    const controller = new AbortController();
    this.active.set(job.id, { controller, uid: job.uid });
    const deadline = setTimeout(
      () => controller.abort(new Error(`the build took longer than builds.deadline (${ctx.config.builds.deadline}s)`)),
      ctx.config.builds.deadline * 1000,
    );
    // Made the owner's under a temp name, then renamed: `dopq log -f` never finds it root's.
    const logFile = buildLogFile(ctx, job.id);
    const temp = `${path.dirname(logFile)}/.${path.basename(logFile)}`;
    const log = await open(temp, 'w', 0o600);
    await log.chown(job.uid, -1).catch(() => undefined);
    await log.chmod(0o600);
    await rename(temp, logFile);
    let failure: BuildFailure | undefined;
    const what = job.needs_image === 'load' ? 'loading the image' : 'the build';
    try {
      const spec = await loadSpec(ctx, job.id);
      if (!spec) throw new BuildRefused('the job file in the spool is missing');
      // The build's steps get the job's limits: one above the host would fail with the engine's words.
      const beyond = ctx.config.host && beyondHost(spec.manifest, ctx.config.host);
      if (beyond) throw new BuildRefused(beyond);
      // One write after another: writes to a file handle in flight together may land in any
      // order (Node's docs call it unsafe), and under load a build log came out of order.
      let written: Promise<unknown> = Promise.resolve();
      // Past builds.log_size the output is still read (the build goes on) but no longer kept.
      const cap = capOutput(ctx.config.builds.log_size, buildOutputCutMarker(ctx.config.builds.log_size));
      const output = (text: string) => {
        for (const bytes of cap.take(Buffer.from(text))) {
          written = written.then(() => log.write(bytes));
          written.catch(() => undefined); // awaited below; a build that fails first must not leave it unhandled
        }
      };
      const shortage = await diskShortage(ctx.spool.root, ctx.config.builds.min_free);
      if (shortage) throw new BuildRefused(shortage);
      const detail = spec.manifest.build
        ? await this.runBuild(spec, job, output, controller.signal)
        : await loadArchive(ctx, spec, contextTarPath(ctx, job.id), output, controller.signal);
      await written;
      // Docker's words can quote the Dockerfile's commands (and what they hold): the log only.
      if (detail !== undefined)
        failure = { message: `${what} failed; its output is in dopq log ${job.id}`, detail, retry: this.engineRestartedSince(job) };
    } catch (error) {
      if (error instanceof BuildRefused || error instanceof ImageRefused)
        failure = { message: `${what} failed: ${error.message}`, foreign: error instanceof ImageRefused && error.kind === 'foreign-image' };
      else if (controller.signal.aborted)
        failure = { message: `${what} failed: ${String((controller.signal.reason as Error)?.message ?? controller.signal.reason)}` };
      else {
        // An engine that went away mid-build is not the Dockerfile's fault: build it again later.
        const unreachable = noteEngineError(ctx, error) === 'unreachable';
        failure = {
          message: `${what} failed; its output is in dopq log ${job.id}`,
          detail: dockerMessage(error),
          retry: unreachable || this.engineRestartedSince(job),
        };
      }
    } finally {
      clearTimeout(deadline);
      this.active.delete(job.id);
      // The image holds what the job needs now; the copied context or archive can go.
      if (!this.stopping) await rm(contextTarPath(ctx, job.id), { force: true });
      if (failure)
        await log
          .write(`dopq: ${failure.detail === undefined ? failure.message : `${what} failed: ${failure.detail}`}\n`)
          .catch(() => undefined);
      await log.close();
    }
    this.record(job.id, failure);
  }

  /** Build the job's image as its owner may: bases checked, the owner's own cache only, the result recorded as theirs. */
  private async runBuild(spec: JobSpec, job: JobRecord, output: (text: string) => void, signal: AbortSignal): Promise<string | undefined> {
    const { ctx } = this;
    // The engine gets a context dopq wrote, so the Dockerfile checked here is the one it builds.
    const context = `${contextTarPath(ctx, job.id)}.clean`;
    try {
      await cleanBuildContext(contextTarPath(ctx, job.id), context);
      return await this.buildFrom(context, spec, job, output, signal);
    } catch (error) {
      if (error instanceof ContextRefused) throw new BuildRefused(error.message);
      throw error;
    } finally {
      await rm(context, { force: true });
    }
  }

  private async buildFrom(
    context: string,
    spec: JobSpec,
    job: JobRecord,
    output: (text: string) => void,
    signal: AbortSignal,
  ): Promise<string | undefined> {
    const { ctx } = this;
    const build = spec.manifest.build!;
    // Checked again here: push checked the user's Dockerfile, but the tar is only what a file said.
    const dockerfile = await readTarEntry(context, path.posix.normalize(build.dockerfile), 1024 * 1024);
    if (dockerfile === undefined) throw new BuildRefused(`${build.dockerfile}: no such file in the build context`);
    const plan = await checkBuildReferences(ctx, job.uid, build.dockerfile, dockerfile, build.args);
    ctx.log.info(`building ${spec.image}`, job.id);
    const cgroup = await this.pidsCgroup(job);
    const failure = await ctx.engine
      .buildImage(
        context,
        {
          tag: spec.image,
          dockerfile: build.dockerfile,
          args: build.args,
          // No labels: the tag (image-names.ts) already names the instance, owner and job, and
          // the classic builder adds labels as one more committed step, which cost a small build
          // ~300-400 ms (`npm run bench`). Ownership is in dopq's own record, never in labels.
          // A build's RUN steps get the job's own memory and CPU limits.
          memory: spec.manifest.memory,
          cpus: spec.manifest.cpus,
          shm: spec.manifest.shm,
          pids: ctx.config.limits.pids,
          ...(cgroup ? { cgroupParent: cgroup.parent } : {}),
          cacheFrom: imagesOf(ctx.images, job.uid)
            .slice(0, CACHE_IMAGES)
            .map((image) => image.id),
        },
        output,
        signal,
      )
      .finally(() => cgroup && removeBuildCgroup(buildCgroupName(ctx.instance, job.id)));
    if (failure !== undefined) return failure;
    const built = await ctx.engine.inspectImage(spec.image);
    if (!built) throw new BuildRefused('the engine has no image after the build');
    const image = await checkNewImage(ctx, job.uid, built.id, 'the built image');
    await recordImage(ctx, { id: image.id, uid: job.uid, job: job.id, layers: image.layers, base_layers: plan.baseLayers, at: ctx.now() });
    return undefined;
  }

  /** The build's own pids cgroup (limits.pids, root steps too), or none and one log line why. */
  private async pidsCgroup(job: JobRecord): Promise<BuildCgroup | undefined> {
    const { ctx } = this;
    await (this.swept ??= sweepBuildCgroups(ctx.instance));
    this.cgroupDriver ??= await ctx.engine.cgroupDriver().catch(() => undefined);
    const made = await makeBuildCgroup(
      buildCgroupName(ctx.instance, job.id),
      ctx.config.limits.pids,
      this.cgroupDriver ?? 'unknown (docker info failed)',
    );
    if ('cgroup' in made) return made.cgroup;
    ctx.log.info(`the build runs without a pids limit (limits.pids): ${made.missing}`, job.id);
    return undefined;
  }

  /** Whether the engine was unreachable or restarted since the job's build began. */
  private engineRestartedSince(job: JobRecord): boolean {
    const health = this.ctx.health;
    const began = job.build_started_at ?? 0;
    return (
      health.down !== null ||
      health.outages.some((outage) => (outage.to ?? Number.POSITIVE_INFINITY) >= began) ||
      (health.startedAt ?? 0) > began
    );
  }

  private record(id: number, failure: BuildFailure | undefined): void {
    const { ctx } = this;
    const job = jobById(ctx, id);
    if (this.stopping) return; // left building: the next daemon builds it again
    if (!job || job.state !== 'building') return; // cancelled meanwhile: its record stands
    const { build_started_at: _b, needs_image: _n, ...rest } = job;
    if (failure === undefined) {
      replaceJob(ctx, { ...rest, state: 'queued' });
      ctx.log.info('image built; the job may start', id);
    } else if (failure.retry) {
      const { build_started_at: _bs, ...waiting } = job;
      replaceJob(ctx, { ...waiting, state: 'queued' });
      ctx.log.error(`${failure.message}: the engine went away during it (${failure.detail ?? ''}); it will be built again`, id);
    } else if (failure.foreign) {
      replaceJob(ctx, refuseJob(job, 'foreign-image', failure.message, ctx.now()));
      ctx.log.error(`refused: ${failure.message}`, id);
    } else {
      replaceJob(ctx, {
        ...rest,
        state: 'failed',
        reason: 'build-failed',
        message: failure.message,
        exit_code: null,
        finished_at: ctx.now(),
      });
      ctx.log.error(`${failure.message}${failure.detail === undefined ? '' : `: ${failure.detail}`}`, id);
    }
    this.onEnd();
  }
}
