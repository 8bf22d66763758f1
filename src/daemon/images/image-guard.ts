// Every image a job runs, builds on or copies from is resolved through the engine and judged on
// the ID it resolves to (image-ownership.ts) before the build or the start: a name, a digest, an
// ID or a short ID of another user's job image all end at the same refusal.
import {
  judgeImage,
  withImage,
  withoutImages,
  type ImageFacts,
  type ImageRecord,
  type OwnedImage,
} from '../../core/job/image-ownership.js';
import { namesForeignJobImage } from '../../core/job/image-names.js';
import type { EngineImage } from '../../io/docker/engine.js';
import { writeImageRecord } from '../../io/spool/image-record.js';
import type { DaemonContext } from '../context.js';

/** What judging an image needs: the engine, and the record of whose job images are whose. */
export type ImageContext = Pick<DaemonContext, 'engine' | 'images'>;

/** How far up a parent chain to look; local builds have one parent per Dockerfile step. */
const MAX_ANCESTORS = 256;
const ANCESTRY_CACHED = 1000;
const ancestryById = new Map<string, string[]>();

/**
 * A job dopq will not run or build as asked. `foreign-image`: another user's image (the job ends
 * rejected); `unusable`: no such image, or one dopq cannot read safely (the job fails).
 */
export class ImageRefused extends Error {
  constructor(
    message: string,
    readonly kind: 'foreign-image' | 'unusable',
  ) {
    super(message);
    this.name = 'ImageRefused';
  }
}

/** The engine's image for `reference` with its parent chain, or undefined when it has none. */
export async function imageFacts(ctx: ImageContext, reference: string): Promise<{ image: EngineImage; facts: ImageFacts } | undefined> {
  const image = await ctx.engine.inspectImage(reference);
  if (!image) return undefined;
  // An image's parents never change (its ID is its content): walk the chain once per ID, not
  // once per start, which costs one inspect per Dockerfile step of a local build.
  let ancestors = ancestryById.get(image.id);
  if (!ancestors) {
    ancestors = [];
    for (let parent = image.parent; parent && ancestors.length < MAX_ANCESTORS && !ancestors.includes(parent);) {
      ancestors.push(parent);
      parent = (await ctx.engine.inspectImage(parent))?.parent ?? '';
    }
    if (ancestryById.size >= ANCESTRY_CACHED) ancestryById.clear();
    ancestryById.set(image.id, ancestors);
  }
  return { image, facts: { id: image.id, repoTags: image.repoTags, repoDigests: image.repoDigests, layers: image.layers, ancestors } };
}

/**
 * The image `reference` resolves to, if `uid` may use it; else ImageRefused. `what` says where
 * the reference came from (`image`, `Dockerfile line 3: FROM`), for the message its owner sees.
 */
export async function resolveForUser(ctx: ImageContext, uid: number, reference: string, what: string): Promise<EngineImage> {
  if (namesForeignJobImage(reference, uid)) throw new ImageRefused(`${what} ${reference}: another user's job image`, 'foreign-image');
  const found = await imageFacts(ctx, reference);
  if (!found) throw new ImageRefused(`${what} ${reference}: no such image on this server (builds and jobs never pull)`, 'unusable');
  const verdict = judgeImage(found.facts, uid, ctx.images);
  if (!verdict.ok) throw new ImageRefused(`${what} ${reference} ${verdict.why}`, 'foreign-image');
  return found.image;
}

/** Judge an image dopq just built or loaded for `uid` (what it was built on), before recording it. */
export async function checkNewImage(ctx: DaemonContext, uid: number, id: string, what: string): Promise<EngineImage> {
  const recorded = ctx.images.images.find((image) => image.id === id);
  if (recorded && recorded.uid !== uid) throw new ImageRefused(`${what} is another user's job image`, 'foreign-image');
  const found = await imageFacts(ctx, id);
  if (!found) throw new ImageRefused(`${what}: the engine lost the image`, 'unusable');
  // Judged as if already recorded as the user's: only what it is built on counts now.
  const verdict = judgeImage(found.facts, uid, withImage(ctx.images, { id, uid, job: -1, layers: [], base_layers: 0, at: 0 }));
  if (!verdict.ok) throw new ImageRefused(`${what} ${verdict.why}`, 'foreign-image');
  return found.image;
}

let writing: Promise<void> = Promise.resolve();

/** Record `image` as its owner's, durably, before any job may use it. */
export function recordImage(ctx: DaemonContext, image: OwnedImage): Promise<void> {
  return saveRecord(ctx, withImage(ctx.images, image));
}

/** Forget images the engine no longer has (an ID that comes back is judged afresh). */
export function forgetImages(ctx: DaemonContext, gone: ReadonlySet<string>): Promise<void> {
  return saveRecord(ctx, withoutImages(ctx.images, gone));
}

async function saveRecord(ctx: DaemonContext, record: ImageRecord): Promise<void> {
  ctx.images = record;
  const step = writing.then(() => writeImageRecord(ctx.spool.images, record));
  writing = step.catch(() => undefined);
  await step;
}
