// The truth about containers comes from the engine, not from the events we happened to see:
// at start, on a timer and when the engine comes back, match running jobs against this spool's
// containers, known by the names dopq gives them. No container is removed here: removals wait
// until the state that records why is on disk (ctx.removals).
import { imagesToRemove } from '../../core/job/image-retention.js';
import { cancelQueued } from '../../core/job/job.js';
import { jobById, replaceJob, type DaemonContext } from '../context.js';
import { reap, type LogSavers } from './lifecycle.js';
import { forgetImages } from '../images/image-guard.js';
import { openSession, sweepSessions } from './sessions.js';

export interface ReconcileResult {
  changed: boolean;
  /** Jobs whose stop request must be (re)issued. */
  toStop: number[];
  /** Jobs whose container was created and recorded but never started (a daemon died between). */
  toStart: number[];
}

export async function reconcile(ctx: DaemonContext, logs: LogSavers, buildsRunning = false): Promise<ReconcileResult> {
  const result: ReconcileResult = { changed: false, toStop: [], toStart: [] };
  const containers = await ctx.engine.list(ctx.instance);
  const byJob = new Map(containers.map((c) => [c.jobId, c]));

  const handled = new Set<number>();
  for (const job of ctx.state.jobs.filter((j) => j.state === 'running')) {
    handled.add(job.id);
    const container = byJob.get(job.id);
    if (!container) {
      if (job.container_id) {
        replaceJob(ctx, {
          ...job,
          state: 'failed',
          reason: 'lost',
          message: 'its container disappeared (removed outside dopq?)',
          finished_at: ctx.now(),
          exit_code: null,
        });
        ctx.log.error('container disappeared; recorded as lost', job.id);
      } else {
        // The daemon stopped between placing the job and creating its container: queue it again.
        const { started_at: _s, ...rest } = job;
        replaceJob(ctx, { ...rest, state: 'queued', gpus: [] });
        ctx.log.info('was placed but never started; queued again', job.id);
      }
      result.changed = true;
      continue;
    }
    if (job.container_id !== container.id) {
      replaceJob(ctx, { ...job, container_id: container.id });
      result.changed = true;
    }
    if (container.running) {
      void logs.ensure(ctx, jobById(ctx, job.id)!); // adopt: follow its output again
      void openSession(ctx, jobById(ctx, job.id)!); // and serve its terminal again (interactive jobs)
      if (job.stopping) result.toStop.push(job.id);
    } else if (container.created) {
      // Created and recorded, never started: the intent on disk says start it (once).
      if (!job.stopping) result.toStart.push(job.id);
      else {
        replaceJob(ctx, cancelQueued({ ...job, gpus: [] }, job.message?.replace(/^cancelled by /, '') ?? 'dopq', ctx.now()));
        ctx.removals.add(container.id);
        result.changed = true;
      }
    } else if (await reap(ctx, logs, job.id)) {
      result.changed = true;
    }
  }

  // Containers of ours whose job is not running: kept finished ones (keep_containers), or
  // leftovers of a crash. Their outcome is recorded.
  const now = ctx.now();
  for (const container of containers) {
    if (handled.has(container.jobId)) continue;
    const finishedAt = jobById(ctx, container.jobId)?.finished_at;
    if (!container.running && finishedAt !== undefined && now - finishedAt < ctx.config.keep_containers * 1000) continue;
    if (ctx.removals.has(container.id) || ctx.removing.has(container.id)) continue;
    ctx.log.info(`removing leftover container ${container.id.slice(0, 12)} (once the state is saved)`, container.jobId);
    ctx.removals.add(container.id);
  }
  sweepSessions(ctx);
  // Removing an image prunes its untagged parents, which a running build may be using as its
  // cache (the engine then fails that build): remove only while no build runs.
  if (!buildsRunning) await removeOldImages(ctx);
  return result;
}

/** builds.keep_images: the images of finished jobs beyond each user's newest few, or too old. */
async function removeOldImages(ctx: DaemonContext): Promise<void> {
  const images = await ctx.engine.listJobImages(ctx.instance);
  if (images.length === 0) return;
  const removed = imagesToRemove(images, ctx.state.jobs, ctx.config.builds.keep_images, ctx.now());
  for (const id of removed) {
    await ctx.engine.removeImage(id).catch((error: Error) => ctx.log.error(`cannot remove image ${id}: ${error.message}`));
  }
  if (removed.length > 0) await forgetRemovedImages(ctx);
}

/** Drop from the ownership record the images the engine no longer has. */
async function forgetRemovedImages(ctx: DaemonContext): Promise<void> {
  const gone = new Set<string>();
  for (const image of ctx.images.images) {
    if (!(await ctx.engine.inspectImage(image.id))) gone.add(image.id);
  }
  if (gone.size > 0) await forgetImages(ctx, gone);
}
