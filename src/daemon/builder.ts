// Build ahead: while jobs wait, the daemon builds their images (`build:`) in the order they
// will start, `builds.parallel` at a time, each with a deadline. A build never holds a GPU and
// never blocks a pass: it runs beside the loop and asks for a pass when it ends.
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { IMAGE_LABEL_INSTANCE, IMAGE_LABEL_JOB, IMAGE_LABEL_UID } from '../core/container-spec.js';
import type { JobRecord, JobSpec } from '../core/job.js';
import { baseImageRefusals } from '../core/dockerfile-check.js';
import { dockerMessage } from '../io/docker.js';
import { diskShortage } from '../io/disk.js';
import { readTarEntry } from '../io/tar-entry.js';
import { jobById, replaceJob, type DaemonContext } from './context.js';
import { contextTarPath } from './intake.js';
import { loadSpec } from './lifecycle.js';

class BuildRefused extends Error {}

export function buildLogFile(ctx: DaemonContext, id: number): string {
  return path.join(ctx.spool.logs, `${id}.build.log`);
}

export class Builder {
  private readonly active = new Map<number, AbortController>();
  private readonly running = new Set<Promise<void>>();
  private stopping = false;

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
    for (const [id, controller] of this.active) {
      if (jobById(this.ctx, id)?.state !== 'building') controller.abort(new Error('the job was cancelled'));
    }
    const slots = this.ctx.config.builds.parallel - this.active.size;
    for (const id of order.slice(0, Math.max(0, slots))) {
      const job = jobById(this.ctx, id);
      if (!job || job.state !== 'queued' || job.needs_image === undefined || this.active.has(id)) continue;
      const started = { ...job, state: 'building' as const, build_started_at: this.ctx.now() };
      replaceJob(this.ctx, started);
      const building = this.build(started).finally(() => this.running.delete(building));
      this.running.add(building);
    }
  }

  /** The daemon is stopping: builds are abandoned, and the next daemon builds those jobs again. */
  async abortAll(): Promise<void> {
    this.stopping = true;
    for (const controller of this.active.values()) controller.abort(new Error('the daemon is stopping'));
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
    this.active.set(job.id, controller);
    const deadline = setTimeout(() => controller.abort(new Error(`the build took longer than builds.deadline (${ctx.config.builds.deadline}s)`)), ctx.config.builds.deadline * 1000);
    // Made the owner's under a temp name, then renamed: `dopq log -f` never finds it root's.
    const logFile = buildLogFile(ctx, job.id);
    const temp = `${path.dirname(logFile)}/.${path.basename(logFile)}`;
    const log = await open(temp, 'w', 0o600);
    await log.chown(job.uid, -1).catch(() => undefined);
    await log.chmod(0o600);
    await rename(temp, logFile);
    let failure: string | undefined;
    try {
      const spec = await loadSpec(ctx, job.id);
      if (!spec) throw new Error('the job file in the spool is missing');
      const writes: Promise<unknown>[] = [];
      const output = (text: string) => writes.push(log.write(text));
      const shortage = await diskShortage(ctx.spool.root, ctx.config.builds.min_free);
      if (shortage) throw new BuildRefused(shortage);
      if (spec.manifest.build) failure = await this.runBuild(spec, job, output, controller.signal);
      else {
        ctx.log.info(`loading ${spec.manifest.image_archive} as ${spec.image}`, job.id);
        failure = await ctx.engine.loadImage(contextTarPath(ctx, job.id), spec.image, output, controller.signal);
      }
      await Promise.all(writes);
    } catch (error) {
      failure = error instanceof BuildRefused ? error.message : controller.signal.aborted ? String((controller.signal.reason as Error)?.message ?? controller.signal.reason) : dockerMessage(error);
    } finally {
      clearTimeout(deadline);
      this.active.delete(job.id);
      // The image holds what the job needs now; the copied context or archive can go.
      if (!this.stopping) await rm(contextTarPath(ctx, job.id), { force: true });
      if (failure) await log.write(`dopq: ${job.needs_image === "load" ? "loading the image" : "build"} failed: ${failure}\n`).catch(() => undefined);
      await log.close();
    }
    this.record(job.id, failure);
  }

  private async runBuild(spec: JobSpec, job: JobRecord, output: (text: string) => void, signal: AbortSignal): Promise<string | undefined> {
    const { ctx } = this;
    const build = spec.manifest.build!;
    // Checked again here: push checked the user's Dockerfile, but the tar is only what a file said.
    const dockerfile = await readTarEntry(contextTarPath(ctx, job.id), build.dockerfile, 1024 * 1024);
    if (dockerfile === undefined) throw new BuildRefused(`${build.dockerfile}: no such file in the build context`);
    const refusals = baseImageRefusals(dockerfile, { uid: job.uid, allowed: ctx.config.images.allowed });
    if (refusals.length > 0) throw new BuildRefused(`${build.dockerfile}: ${refusals.join('; ')}`);
    ctx.log.info(`building ${spec.image}`, job.id);
    return ctx.engine.buildImage(
      contextTarPath(ctx, job.id),
      {
        tag: spec.image,
        dockerfile: build.dockerfile,
        args: build.args,
        // Not the container labels: a build's own intermediate containers inherit these, and
        // reconcile would take them for leftovers of jobs.
        labels: { [IMAGE_LABEL_INSTANCE]: ctx.instance, [IMAGE_LABEL_JOB]: String(job.id), [IMAGE_LABEL_UID]: String(job.uid) },
        // A build's RUN steps get the job's own memory and CPU limits.
        memory: spec.manifest.memory,
        cpus: spec.manifest.cpus,
      },
      output,
      signal,
    );
  }

  private record(id: number, failure: string | undefined): void {
    const { ctx } = this;
    const job = jobById(ctx, id);
    if (this.stopping) return; // left building: the next daemon builds it again
    if (!job || job.state !== 'building') return; // cancelled meanwhile: its record stands
    const { build_started_at: _b, needs_image: _n, ...rest } = job;
    if (failure === undefined) {
      replaceJob(ctx, { ...rest, state: 'queued' });
      ctx.log.info('image built; the job may start', id);
    } else {
      replaceJob(ctx, { ...rest, state: 'failed', reason: 'build-failed', message: `the build failed: ${failure}`, exit_code: null, finished_at: ctx.now() });
      ctx.log.error(`build failed: ${failure}`, id);
    }
    this.onEnd();
  }
}
