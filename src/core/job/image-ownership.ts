// Whose image is it? Decided on what the engine resolved (the image ID, its layers, its parents)
// and on dopq's own record of the images it built or loaded for each user, never on a name or a
// label: names have many spellings and labels are whatever a Dockerfile or an archive says.
import { isJobTag } from './image-names.js';

/** What the engine says about an image a job names (after resolving the name to an ID). */
export interface ImageFacts {
  /** `sha256:<hex>`. */
  id: string;
  repoTags: readonly string[];
  repoDigests: readonly string[];
  /** RootFS diff IDs, base first. */
  layers: readonly string[];
  /** Parent image IDs, nearest first (the legacy builder records them for local builds). */
  ancestors: readonly string[];
}

/** An image dopq built or loaded for a user's job: the record only the daemon writes. */
export interface OwnedImage {
  id: string;
  uid: number;
  job: number;
  layers: string[];
  /** How many of `layers` came from its base image; the rest are the user's own. */
  base_layers: number;
  at: number;
}

export interface ImageRecord {
  version: 1;
  images: OwnedImage[];
}

export function emptyImageRecord(): ImageRecord {
  return { version: 1, images: [] };
}

export type ImageVerdict = { ok: true; own: boolean } | { ok: false; why: string };

/** How many leading layers two images have in common. */
function sharedPrefix(a: readonly string[], b: readonly string[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n += 1;
  return n;
}

/**
 * May `uid` run, build on or copy from this image? Their own job images, and images an admin
 * installed under a name (a tag or digest outside dopq's job namespace), unless any of them is,
 * or is built on, another user's job image. An untagged image that is nobody's recorded job image
 * (build steps left behind, say) is refused too: it may hold another user's build.
 */
export function judgeImage(facts: ImageFacts, uid: number, record: ImageRecord): ImageVerdict {
  const entry = record.images.find((image) => image.id === facts.id);
  if (entry && entry.uid !== uid) return { ok: false, why: "is another user's job image" };
  if (!entry && !isNamed(facts)) {
    return { ok: false, why: 'is not an image installed under a name on this server, nor one of your job images' };
  }
  for (const other of record.images) {
    if (other.uid === uid || other.id === facts.id) continue;
    // Any of the other user's own layers (those past their base's) at the start of this image
    // means it holds their files: built on their image, or made of a prefix of its layers (an
    // archive can name layers the engine already has and carry none of their data). A foreign
    // image that added no layers of its own shares only its base's: its ID among the parents is
    // then the only sign that something was built on it.
    if (facts.ancestors.includes(other.id) || sharedPrefix(facts.layers, other.layers) > other.base_layers) {
      return { ok: false, why: "is built on another user's job image" };
    }
  }
  return { ok: true, own: entry !== undefined };
}

function isNamed(facts: ImageFacts): boolean {
  const named = (name: string) => name !== '<none>:<none>' && name !== '<none>@<none>' && !isJobTag(name);
  return facts.repoTags.some(named) || facts.repoDigests.some(named);
}

/** The record with `image` in it (replacing an entry of the same ID). */
export function withImage(record: ImageRecord, image: OwnedImage): ImageRecord {
  return { ...record, images: [...record.images.filter((i) => i.id !== image.id), image] };
}

/** The record without images the engine no longer has. */
export function withoutImages(record: ImageRecord, gone: ReadonlySet<string>): ImageRecord {
  return { ...record, images: record.images.filter((image) => !gone.has(image.id)) };
}

/** The user's own recorded images, newest first: the only cache their builds may use. */
export function imagesOf(record: ImageRecord, uid: number): OwnedImage[] {
  return record.images.filter((image) => image.uid === uid).sort((a, b) => b.at - a.at);
}
