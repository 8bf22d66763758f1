// image_archive: jobs. The archive is checked and rewritten so that none of its tags can land
// (image-archive.ts), loaded, judged on what it is built on, recorded as its owner's, and only
// then tagged for its job. An image the engine already has is judged like any other reference.
import { isJobTag } from '../../core/job/image-names.js';
import type { JobSpec } from '../../core/job/job.js';
import { imageAllowed } from '../../core/job/manifest.js';
import { ArchiveRefused, cleanArchive, inspectArchive } from '../../io/docker/image-archive.js';
import type { DaemonContext } from '../context.js';
import { checkNewImage, ImageRefused, recordImage, resolveForUser } from './image-guard.js';

/** Load the job's archive as its image; resolves with Docker's error text, if the load failed. */
export async function loadArchive(
  ctx: DaemonContext,
  spec: JobSpec,
  archive: string,
  output: (text: string) => void,
  signal: AbortSignal,
): Promise<string | undefined> {
  let image;
  try {
    image = await inspectArchive(archive, signal, { maxInflated: ctx.config.builds.archive_size });
  } catch (error) {
    if (error instanceof ArchiveRefused) throw new ImageRefused(error.message, 'unusable');
    throw error;
  }
  ctx.log.info(`loading ${spec.manifest.image_archive} (${image.id.slice(7, 19)}) as ${spec.image}`, spec.id);
  if (await ctx.engine.inspectImage(image.id)) {
    // The engine has it already: the archive is a spelling of that image, judged as one.
    await resolveForUser(ctx, spec.uid, image.id, 'image_archive: the image');
    output(`dopq: the engine already has image ${image.id}\n`);
  } else {
    const loaded = await ctx.engine.loadImage(cleanArchive(archive, image), output, signal);
    if ('failure' in loaded) return loaded.failure;
    try {
      if (loaded.id !== image.id)
        throw new ImageRefused(`image_archive: the engine loaded ${loaded.id}, not the archive's ${image.id}`, 'unusable');
      const checked = await checkNewImage(ctx, spec.uid, loaded.id, 'image_archive: the image');
      const base = await namedBase(ctx, checked.layers);
      if (!base.allowed)
        throw new ImageRefused(
          `image_archive: the image is not built on an image this server allows (images.allowed: ${ctx.config.images.allowed!.join(', ')})`,
          'unusable',
        );
      await recordImage(ctx, {
        id: loaded.id,
        uid: spec.uid,
        job: spec.id,
        layers: [...checked.layers],
        base_layers: base.layers,
        at: ctx.now(),
      });
    } catch (error) {
      // It was not on the engine before this load: nothing else can be using it.
      await ctx.engine.removeImage(loaded.id).catch(() => undefined);
      throw error;
    }
  }
  await ctx.engine.tagImage(image.id, spec.image);
  return undefined;
}

/**
 * The longest installed image (named outside dopq's job tags) whose layers start `layers`: how
 * many of them are that base's, and whether that base is one images.allowed names, as a build's
 * FROM would have to be (`scratch` in images.allowed admits any archive).
 */
async function namedBase(ctx: DaemonContext, layers: readonly string[]): Promise<{ layers: number; allowed: boolean }> {
  const patterns = ctx.config.images.allowed;
  let best = 0;
  let allowed = patterns === null || imageAllowed('scratch', patterns);
  for (const listed of await ctx.engine.listImages()) {
    const names = listed.repoTags.filter((tag) => tag !== '<none>:<none>' && !isJobTag(tag));
    if (names.length === 0) continue;
    const base = await ctx.engine.inspectImage(listed.id);
    if (!base || base.layers.length === 0 || base.layers.length > layers.length || !base.layers.every((layer, i) => layers[i] === layer))
      continue;
    best = Math.max(best, base.layers.length);
    if (patterns !== null && names.some((name) => imageAllowed(name, patterns))) allowed = true;
  }
  return { layers: best, allowed };
}
