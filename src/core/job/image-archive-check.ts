// What dopq decides about a `docker save` archive, on what pass 1 read (pure): its one image's
// manifest and config, whether every layer holds its diff_id's data, and the layout pass 2
// writes. The engine skips reading a layer whose chain it already has, so an archive could name
// another user's layers by their diff_ids alone and get their files: each layer must really
// hold its diff_id's data. The reading itself is io/docker/image-archive.ts.
import { createHash } from 'node:crypto';
import { ArchiveRefused, KIND_TEXT, resolveFile, type ArchiveEntry, type ArchiveIndex } from './archive-entries.js';

export const MAX_MANIFEST = 1024 * 1024;
export const MAX_CONFIG = 16 * 1024 * 1024;
/** Small files kept from pass 1, so the config (named only by the manifest) needs no third read. */
export const KEEP_BUDGET = 32 * 1024 * 1024;
const SHA256 = /^sha256:[a-f0-9]{64}$/;
/** What pass 1 inflates of gzip-compressed entries, all of them together, unless told otherwise. */
export const DEFAULT_MAX_INFLATED = 64 * 1024 ** 3;

/** The one image an archive holds, and where pass 2 finds its parts. */
export interface ArchiveImage {
  /** `sha256:<hex>` of the config bytes: the ID the engine gives the image. */
  id: string;
  /** The config's `rootfs.diff_ids`, one per layer. */
  diffIds: string[];
  /** The config, as pass 1 read it; pass 2 writes these very bytes. */
  config: Buffer;
  /**
   * Per layer, in order: the regular-file entry (normalised name) holding it, its size, and the
   * sha256 (hex) of its bytes as stored, which pass 2 checks again.
   */
  layers: { entry: string; size: number; sha256: string }[];
}

/** How the engine's loader would decompress a layer file, going by its first bytes. */
export type Compression = 'none' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

/** What pass 1 learnt of a regular file's content as it streamed past. */
export interface EntryDigest {
  /** sha256 (hex) of the bytes as stored. */
  sha256: string;
  compression: Compression;
  /** gzip only: sha256 (hex) of the gunzipped stream, or why there is none. */
  inflated?: { sha256: string } | { failed: string };
}

/** Why there is no usable manifest.json: usually the archive is some other kind of tar. */
function missingManifest(archive: ArchiveIndex): never {
  const has = (name: string) => archive.entries.has(name);
  if (has('index.json') || has('oci-layout'))
    throw new ArchiveRefused('is an OCI image layout without manifest.json; dopq loads the tar that `docker save IMAGE` writes');
  if (has('repositories'))
    throw new ArchiveRefused(
      'is a legacy `docker save` archive (a repositories file, no manifest.json); save it again with a current docker',
    );
  throw new ArchiveRefused('has no manifest.json: it is not a `docker save` archive');
}

/** The manifest entry (a regular file, never a link) or why there is none. */
export function manifestEntry(archive: ArchiveIndex): ArchiveEntry {
  const entry = archive.entries.get('manifest.json');
  if (!entry) return missingManifest(archive);
  if (entry.kind !== 'file') throw new ArchiveRefused(`is a ${KIND_TEXT[entry.kind]}; manifest.json must be a regular file`, entry.raw);
  if (entry.size > MAX_MANIFEST) throw new ArchiveRefused(`is ${entry.size} bytes; the limit is ${MAX_MANIFEST}`, entry.raw);
  return entry;
}

/** manifest.json's one image: its Config and Layers paths. */
export function parseArchiveManifest(text: string): { config: string; layers: string[] } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ArchiveRefused(`is not JSON: ${(error as Error).message}`, 'manifest.json');
  }
  if (!Array.isArray(value)) throw new ArchiveRefused('is not a JSON array of images', 'manifest.json');
  if (value.length !== 1)
    throw new ArchiveRefused(
      `lists ${value.length} images; a job runs one image, so save just that one (docker save IMAGE)`,
      'manifest.json',
    );
  const image = value[0] as { Config?: unknown; Layers?: unknown } | null;
  if (typeof image?.Config !== 'string' || image.Config === '')
    throw new ArchiveRefused('has no Config path for its image', 'manifest.json');
  if (!Array.isArray(image.Layers) || !image.Layers.every((layer) => typeof layer === 'string'))
    throw new ArchiveRefused('has no Layers list of paths for its image', 'manifest.json');
  return { config: image.Config, layers: image.Layers as string[] };
}

// The engine's JSON decoder matches keys case-insensitively (also ſ as s, K as k), so a second
// "RootFS" would win there while JSON.parse reads "rootfs": the diff_ids must mean one thing.
const goFold = (key: string) =>
  key
    .replace(/\u017f/g, 's')
    .replace(/\u212a/g, 'k')
    .toLowerCase();
function onlyKey(object: Record<string, unknown>, key: string, entry: string): unknown {
  const keys = Object.keys(object).filter((k) => goFold(k) === key);
  if (keys.length !== 1 || keys[0] !== key)
    throw new ArchiveRefused(
      keys.length === 0
        ? `has no "${key}"`
        : `spells "${key}" as ${keys.map((k) => JSON.stringify(k)).join(', ')}; write it once, in lower case`,
      entry,
    );
  return object[key];
}

/** The config's `rootfs.diff_ids`. */
export function parseImageConfig(bytes: Buffer, entry: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new ArchiveRefused(`(the image config) is not JSON: ${(error as Error).message}`, entry);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new ArchiveRefused('(the image config) is not a JSON object', entry);
  const rootfs = onlyKey(value as Record<string, unknown>, 'rootfs', entry);
  if (!rootfs || typeof rootfs !== 'object' || Array.isArray(rootfs))
    throw new ArchiveRefused('(the image config) has no rootfs object', entry);
  const diffIds = onlyKey(rootfs as Record<string, unknown>, 'diff_ids', entry);
  if (!Array.isArray(diffIds) || !diffIds.every((id) => typeof id === 'string' && SHA256.test(id)))
    throw new ArchiveRefused('(the image config) has rootfs.diff_ids that are not a list of sha256:<hex> digests', entry);
  return diffIds as string[];
}

// The magic numbers of the engine's archive.DetectCompression: anything else it reads as a plain tar.
const MAGIC: [Exclude<Compression, 'none'>, number[]][] = [
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['gzip', [0x1f, 0x8b, 0x08]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
];
/** The most leading bytes `compressionOf` looks at. */
export const MAGIC_BYTES = 6;

/** How the engine would decompress a file that starts with `head`. */
export function compressionOf(head: Uint8Array): Compression {
  const found = MAGIC.find(([, magic]) => magic.every((byte, i) => head[i] === byte));
  if (found) return found[0];
  // A zstd skippable frame (0x184D2A50 to 0x184D2A5F, little-endian) also starts a zstd stream.
  if (head.length >= 4 && (head[0]! & 0xf0) === 0x50 && head[1] === 0x2a && head[2] === 0x4d && head[3] === 0x18) return 'zstd';
  return 'none';
}

/**
 * Layer `i` must hold the data of `diffId`: the sha256 of the uncompressed tar, which is the
 * file itself, or for gzip what it inflates to. Whether the engine already has that layer must
 * not matter: it would skip reading the file, and load someone else's layer in its place.
 */
export function checkLayer(i: number, entry: ArchiveEntry, digest: EntryDigest | undefined, diffId: string): void {
  const which = `layer ${i} (entry ${JSON.stringify(entry.raw)}${digest?.compression === 'gzip' ? ', gzip-compressed' : ''})`;
  if (!digest) throw new ArchiveRefused(`${which} was not read`);
  if (digest.compression !== 'none' && digest.compression !== 'gzip')
    throw new ArchiveRefused(`${which} is compressed with ${digest.compression}; save it uncompressed`);
  let actual = digest.sha256;
  if (digest.compression === 'gzip') {
    if (!digest.inflated || 'failed' in digest.inflated)
      throw new ArchiveRefused(`${which} cannot be decompressed: ${digest.inflated?.failed ?? 'it was not read'}`);
    actual = digest.inflated.sha256;
  }
  if (`sha256:${actual}` !== diffId)
    throw new ArchiveRefused(
      `${which} does not hold its rootfs.diff_id ${diffId} (its data hashes to sha256:${actual}): the archive must carry every layer's data`,
    );
}

/** Which regular files pass 1 keeps the bytes of: manifest.json, and small files that may be the config. */
export function keptInPass1(entry: ArchiveEntry, keptBytes: number): boolean {
  return entry.name === 'manifest.json' ? entry.size <= MAX_MANIFEST : entry.size <= MAX_CONFIG && keptBytes + entry.size <= KEEP_BUDGET;
}

// How a compressed archive starts: as a layer file does, but gzip by its first two bytes alone.
const ARCHIVE_MAGIC = MAGIC.map(([kind, magic]) => [kind, kind === 'gzip' ? magic.slice(0, 2) : magic] as const);
/** The most leading bytes of the archive `checkArchiveHead` looks at. */
export const ARCHIVE_HEAD_BYTES = 6;

/** The engine would inflate a compressed archive; dopq reads the plain tar only, and says so rather than "invalid header". */
export function checkArchiveHead(head: Uint8Array): void {
  const found = ARCHIVE_MAGIC.find(([, magic]) => magic.every((byte, i) => head[i] === byte));
  if (found)
    throw new ArchiveRefused(
      `is ${found[0]}-compressed; dopq loads the plain tar that \`docker save -o FILE IMAGE\` writes: decompress it first`,
    );
}

/** Where the manifest's one image lies: its config and layer entries, as the engine would open them. */
export interface ImageEntries {
  config: ArchiveEntry;
  layers: ArchiveEntry[];
}

/** The entries manifest.json (its text) names, each resolved to a regular file; a config too large is refused. */
export function locateImage(archive: ArchiveIndex, manifestText: string): ImageEntries {
  const manifest = parseArchiveManifest(manifestText);
  const config = resolveFile(archive, manifest.config, 'its Config');
  if (config.size > MAX_CONFIG)
    throw new ArchiveRefused(`(the image config) is ${config.size} bytes; the limit is ${MAX_CONFIG}`, config.raw);
  const layers = manifest.layers.map((layer, i) => resolveFile(archive, layer, `its Layers[${i}]`));
  return { config, layers };
}

/**
 * The image, once its config's bytes are read (undefined: not found again): the config must be
 * the size its entry said, and every layer must hold its diff_id's data (`digests`, from pass 1).
 */
export function describeImage(image: ImageEntries, config: Buffer | undefined, digests: ReadonlyMap<string, EntryDigest>): ArchiveImage {
  if (config?.length !== image.config.size) throw new ArchiveRefused('changed while it was being read', image.config.raw);
  const diffIds = parseImageConfig(config, image.config.raw);
  if (diffIds.length !== image.layers.length)
    throw new ArchiveRefused(`lists ${image.layers.length} layers, but its config has ${diffIds.length} rootfs.diff_ids`, 'manifest.json');
  image.layers.forEach((entry, i) => checkLayer(i, entry, digests.get(entry.name), diffIds[i]!));
  return {
    id: `sha256:${createHash('sha256').update(config).digest('hex')}`,
    diffIds,
    config,
    layers: image.layers.map((entry) => ({ entry: entry.name, size: entry.size, sha256: digests.get(entry.name)!.sha256 })),
  };
}

/** A layer file pass 2 copies: its number in the new archive, and what pass 1 found it to be. */
export interface LayerSlot {
  n: number;
  size: number;
  sha256: string;
}

/** What pass 2 writes: names we chose, each layer file once, and a manifest of our own, untagged. */
export interface CleanLayout {
  /** `<hex>.json`: the config. */
  configName: string;
  manifest: Buffer;
  /** By the entry name in the user's archive; written as `<n>/layer.tar`. */
  slots: Map<string, LayerSlot>;
}

export function cleanLayout(image: ArchiveImage): CleanLayout {
  const configName = `${image.id.slice('sha256:'.length)}.json`;
  const slots = new Map<string, LayerSlot>();
  for (const layer of image.layers)
    if (!slots.has(layer.entry)) slots.set(layer.entry, { n: slots.size, size: layer.size, sha256: layer.sha256 });
  const manifest = [{ Config: configName, RepoTags: null, Layers: image.layers.map((layer) => `${slots.get(layer.entry)!.n}/layer.tar`) }];
  return { configName, manifest: Buffer.from(JSON.stringify(manifest)), slots };
}
