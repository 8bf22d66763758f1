// `docker save` archives as dopq loads them. A user's archive never reaches the engine as it is:
// the engine cleans entry names, follows links and falls back to legacy formats when it
// extracts, so any filter on entry names can be walked around (an entry `x/../manifest.json`
// once re-pointed a shared tag). Pass 1 reads the archive as the engine would and finds its one
// image; pass 2 writes a new tar holding only that image's config and layers, under names we
// chose, with a manifest we wrote, untagged. The loaded image is then tagged for its job only.
// The engine skips reading a layer whose chain it already has, so an archive could name another
// user's layers by their diff_ids alone and get their files: pass 1 hashes every file as it
// streams, and each layer must really hold its diff_id's data (pass 2 re-checks the bytes).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';

const MAX_MANIFEST = 1024 * 1024;
const MAX_CONFIG = 16 * 1024 * 1024;
/** Small files kept from pass 1, so the config (named only by the manifest) needs no third read. */
const KEEP_BUDGET = 32 * 1024 * 1024;
const MAX_HOPS = 8;
const SHA256 = /^sha256:[a-f0-9]{64}$/;
/** What pass 1 inflates of gzip-compressed entries, all of them together, unless told otherwise. */
export const DEFAULT_MAX_INFLATED = 64 * 1024 ** 3;

/** The archive cannot be loaded as one untagged image; `entry` is the entry at fault, if one is. */
export class ArchiveRefused extends Error {
  constructor(
    readonly reason: string,
    readonly entry?: string,
  ) {
    super(`image archive: ${entry === undefined ? '' : `entry ${JSON.stringify(entry)} `}${reason}`);
    this.name = 'ArchiveRefused';
  }
}

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

export type EntryKind = 'file' | 'directory' | 'symlink' | 'link' | 'other';

export interface ArchiveEntry {
  /** Normalised: what the engine's extraction makes of the name. */
  name: string;
  /** As written in the tar, for messages. */
  raw: string;
  kind: EntryKind;
  size: number;
  linkname: string;
  /** Position in the tar: a hard link may only name an entry before it. */
  index: number;
}

/** Pass 1's picture of the archive: entries by normalised name, and every folder they imply. */
export interface ArchiveIndex {
  entries: Map<string, ArchiveEntry>;
  folders: Set<string>;
}

// ---- pure: names, links, manifest and config ----

/** `x/../a`, `./a`, `/a` all name `a` once extracted; a name that climbs out is refused. */
export function normaliseEntryName(raw: string): string {
  const name = path.posix.normalize(raw.replace(/^\/+/, '')).replace(/\/+$/, '');
  if (name === '..' || name.startsWith('../')) throw new ArchiveRefused('climbs out of the archive (a ".." component)', raw);
  return name === '.' ? '' : name;
}

const KIND_TEXT: Record<EntryKind, string> = {
  file: 'regular file',
  directory: 'folder',
  symlink: 'symbolic link',
  link: 'hard link',
  other: 'device, FIFO or other special file',
};

function kindOf(type: string | null | undefined): EntryKind {
  return type === 'file' || type === 'directory' || type === 'symlink' || type === 'link' ? type : 'other';
}

/** Adds one tar header to `archive`; refuses a name that climbs out or is seen twice. */
export function recordEntry(
  archive: ArchiveIndex,
  header: { name: string; type?: string | null; size?: number; linkname?: string | null },
  index: number,
): ArchiveEntry | undefined {
  const name = normaliseEntryName(header.name);
  const kind = kindOf(header.type);
  if (name === '') {
    if (kind === 'directory') return undefined; // `./`: the root itself
    throw new ArchiveRefused('names the archive root itself, yet is not a folder', header.name);
  }
  const seen = archive.entries.get(name);
  // The engine keeps whichever comes last; which one we read must not be a guess.
  if (seen) throw new ArchiveRefused(`names ${JSON.stringify(name)}, as entry ${JSON.stringify(seen.raw)} already does`, header.name);
  const entry: ArchiveEntry = { name, raw: header.name, kind, size: header.size ?? 0, linkname: header.linkname ?? '', index };
  archive.entries.set(name, entry);
  for (let at = name.indexOf('/'); at >= 0; at = name.indexOf('/', at + 1)) archive.folders.add(name.slice(0, at));
  return entry;
}

/**
 * The regular-file entry the engine opens for `name`: symlinks followed component by component
 * relative to their folder (at most MAX_HOPS), hard links to an earlier regular file; anything
 * that leaves the archive, loops, or ends on something other than a regular file is refused.
 */
export function resolveFile(archive: ArchiveIndex, name: string, what: string): ArchiveEntry {
  const refuse = (reason: string, entry = name): never => {
    throw new ArchiveRefused(`${reason} (${what} in manifest.json)`, entry);
  };
  const parts = (text: string) => text.split('/').filter((part) => part !== '' && part !== '.');
  let pending = parts(name);
  const done: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      if (done.length === 0) refuse('leads out of the archive');
      done.pop();
      continue;
    }
    const here = [...done, part].join('/');
    const entry = archive.entries.get(here);
    if (entry?.kind === 'symlink' || entry?.kind === 'link') {
      if (++hops > MAX_HOPS) refuse(`leads through more than ${MAX_HOPS} links`);
    }
    if (entry?.kind === 'symlink') {
      if (entry.linkname.startsWith('/')) refuse(`is a link to the absolute path ${JSON.stringify(entry.linkname)}`, entry.raw);
      pending = [...parts(entry.linkname), ...pending];
      continue;
    }
    if (entry?.kind === 'link') {
      const target = archive.entries.get(normaliseEntryName(entry.linkname));
      if (pending.length > 0) refuse('is a hard link, used as a folder', entry.raw);
      if (target?.kind !== 'file' || target.index > entry.index)
        refuse(`is a hard link to ${JSON.stringify(entry.linkname)}, not to a regular file before it`, entry.raw);
      return target!;
    }
    if (pending.length > 0) {
      if (entry ? entry.kind !== 'directory' : !archive.folders.has(here))
        refuse(entry ? 'is used as a folder but is not one' : 'is used as a folder the archive does not hold', entry?.raw ?? here);
      done.push(part);
      continue;
    }
    if (!entry) return refuse('is not in the archive', here);
    if (entry.kind !== 'file') refuse(`is a ${KIND_TEXT[entry.kind]}, not a regular file`, entry.raw);
    return entry;
  }
  return refuse('names a folder, not a file');
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
export function parseManifest(text: string): { config: string; layers: string[] } {
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
export function parseConfig(bytes: Buffer, entry: string): string[] {
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

// ---- effects: reading the user's tar, writing ours ----

/** The engine would gunzip; we read the plain tar only, and say so rather than "invalid header". */
async function refuseCompressed(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(6), 0, 6, 0);
    const head = buffer.subarray(0, bytesRead);
    const kinds: [string, number[]][] = [
      ['gzip', [0x1f, 0x8b]],
      ['bzip2', [0x42, 0x5a, 0x68]],
      ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
      ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
    ];
    const found = kinds.find(([, magic]) => magic.every((byte, i) => head[i] === byte));
    if (found)
      throw new ArchiveRefused(
        `is ${found[0]}-compressed; dopq loads the plain tar that \`docker save -o FILE IMAGE\` writes: decompress it first`,
      );
  } finally {
    await handle.close();
  }
}

/** A tar-stream parse error means the file is no tar; a file system error stays what it is. */
function asRefusal(error: unknown): unknown {
  const err = error as NodeJS.ErrnoException;
  if (error instanceof ArchiveRefused || err?.code !== undefined || err?.name === 'AbortError') return error;
  return new ArchiveRefused(`is not a readable tar file (${err?.message ?? String(error)})`);
}

/** Ends a read at `entry` with `error`, which tar-stream also hands the entry: only the pipeline reports it. */
function stopAt(extract: tar.Extract, entry: NodeJS.EventEmitter, error: Error): void {
  entry.on('error', () => undefined);
  extract.destroy(error);
}

/** The inflated bytes pass 1 may still produce, shared by every gzip entry of one archive. */
interface InflateBudget {
  left: number;
  readonly cap: number;
}

/** Gunzips into a sha256, bounded by the budget; a failure is kept as text, never thrown. */
class Inflater {
  private readonly hash = createHash('sha256');
  private readonly gunzip = createGunzip();
  private readonly closed: Promise<void>;
  private bytes = 0;
  private failed?: string;

  constructor(private readonly budget: InflateBudget) {
    this.closed = new Promise((resolve) => this.gunzip.once('close', () => resolve()));
    this.gunzip.on('error', (error: Error) => {
      this.failed ??= `it is not valid gzip (${error.message})`;
    });
    this.gunzip.on('data', (chunk: Buffer) => {
      if (this.failed !== undefined) return;
      this.bytes += chunk.length;
      if (this.bytes > this.budget.left) {
        this.failed = `it inflates past the ${this.budget.cap} bytes dopq inflates of one archive`;
        this.gunzip.destroy();
        return;
      }
      this.hash.update(chunk);
    });
  }

  /** Resolves when the next chunk may be written: zlib's backpressure, so memory stays bounded. */
  write(chunk: Buffer): Promise<void> | undefined {
    if (this.failed !== undefined || this.gunzip.destroyed) return undefined;
    if (this.gunzip.write(chunk)) return undefined;
    return new Promise((resolve) => {
      const done = () => {
        this.gunzip.off('drain', done);
        this.gunzip.off('close', done);
        resolve();
      };
      this.gunzip.on('drain', done);
      this.gunzip.on('close', done);
    });
  }

  /** The read failed: let zlib go now. */
  destroy(): void {
    this.gunzip.destroy();
  }

  async end(): Promise<{ sha256: string } | { failed: string }> {
    if (!this.gunzip.destroyed) this.gunzip.end();
    await this.closed;
    this.budget.left = Math.max(0, this.budget.left - this.bytes);
    return this.failed === undefined ? { sha256: this.hash.digest('hex') } : { failed: this.failed };
  }
}

/** Reads `stream` to its end with backpressure: `onChunk` sees every chunk; the digest, if asked for. */
async function consumeEntry(
  stream: Readable,
  onChunk: ((chunk: Buffer) => void) | undefined,
  budget: InflateBudget | undefined,
): Promise<EntryDigest | undefined> {
  const raw = budget ? createHash('sha256') : undefined;
  let held: Buffer[] = [];
  let heldBytes = 0;
  let compression: Compression | undefined;
  let inflater: Inflater | undefined;
  // The first MAGIC_BYTES say whether to inflate: held until then, fed to the inflater after.
  const decide = () => {
    compression = compressionOf(Buffer.concat(held).subarray(0, MAGIC_BYTES));
    if (compression === 'gzip') inflater = new Inflater(budget!);
  };
  try {
    for await (const data of stream) {
      const chunk = data as Buffer;
      onChunk?.(chunk);
      if (!raw) continue;
      raw.update(chunk);
      if (compression === undefined) {
        held.push(chunk);
        heldBytes += chunk.length;
        if (heldBytes < MAGIC_BYTES) continue;
        decide();
        for (const early of held) await inflater?.write(early);
        held = [];
      } else {
        await inflater?.write(chunk);
      }
    }
  } catch (error) {
    inflater?.destroy();
    throw error;
  }
  if (!raw) return undefined;
  if (compression === undefined) decide(); // a file shorter than MAGIC_BYTES
  const digest: EntryDigest = { sha256: raw.digest('hex'), compression: compression! };
  if (inflater) digest.inflated = await inflater.end();
  return digest;
}

/**
 * Pass 1: every header; the bytes of the entries `keep` asks for (regular files only); with a
 * budget, the digest of every regular file.
 */
async function scanArchive(
  file: string,
  keep: (entry: ArchiveEntry, keptBytes: number) => boolean,
  budget: InflateBudget | undefined,
  signal?: AbortSignal,
): Promise<{ archive: ArchiveIndex; kept: Map<string, Buffer>; digests: Map<string, EntryDigest> }> {
  const archive: ArchiveIndex = { entries: new Map(), folders: new Set() };
  const kept = new Map<string, Buffer>();
  const digests = new Map<string, EntryDigest>();
  let keptBytes = 0;
  let index = 0;
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    let entry: ArchiveEntry | undefined;
    try {
      entry = recordEntry(archive, header, index++);
    } catch (error) {
      stopAt(extract, stream, error as Error);
      return;
    }
    if (!entry || entry.kind !== 'file') {
      stream.on('end', next);
      stream.resume();
      return;
    }
    const file = entry;
    const chunks: Buffer[] | undefined = keep(file, keptBytes) ? [] : undefined;
    if (chunks) keptBytes += file.size;
    consumeEntry(stream as unknown as Readable, chunks && ((chunk) => chunks.push(chunk)), budget).then(
      (digest) => {
        if (chunks) kept.set(file.name, Buffer.concat(chunks));
        if (digest) digests.set(file.name, digest);
        next();
      },
      // The entry failed with the extract, which the pipeline reports.
      () => undefined,
    );
  });
  try {
    await pipeline(createReadStream(file), extract, { signal });
  } catch (error) {
    throw asRefusal(error);
  }
  return { archive, kept, digests };
}

/**
 * Check the archive and describe the one image it holds (pass 1; the file is only read). Every
 * layer must hold its diff_id's data; `maxInflated` bounds what gzip-compressed entries may
 * inflate to, all together.
 */
export async function inspectArchive(file: string, signal?: AbortSignal, options: { maxInflated?: number } = {}): Promise<ArchiveImage> {
  await refuseCompressed(file);
  const cap = options.maxInflated ?? DEFAULT_MAX_INFLATED;
  const { archive, kept, digests } = await scanArchive(
    file,
    (entry, keptBytes) =>
      entry.name === 'manifest.json' ? entry.size <= MAX_MANIFEST : entry.size <= MAX_CONFIG && keptBytes + entry.size <= KEEP_BUDGET,
    { left: cap, cap },
    signal,
  );
  const manifestBytes = kept.get(manifestEntry(archive).name)!;
  const manifest = parseManifest(manifestBytes.toString('utf8'));
  const configEntry = resolveFile(archive, manifest.config, 'its Config');
  if (configEntry.size > MAX_CONFIG)
    throw new ArchiveRefused(`(the image config) is ${configEntry.size} bytes; the limit is ${MAX_CONFIG}`, configEntry.raw);
  const layers = manifest.layers.map((layer, i) => resolveFile(archive, layer, `its Layers[${i}]`));
  const config =
    kept.get(configEntry.name) ??
    (await scanArchive(file, (entry) => entry.name === configEntry.name, undefined, signal)).kept.get(configEntry.name);
  if (config?.length !== configEntry.size) throw new ArchiveRefused('changed while it was being read', configEntry.raw);
  const diffIds = parseConfig(config, configEntry.raw);
  if (diffIds.length !== layers.length)
    throw new ArchiveRefused(`lists ${layers.length} layers, but its config has ${diffIds.length} rootfs.diff_ids`, 'manifest.json');
  layers.forEach((entry, i) => checkLayer(i, entry, digests.get(entry.name), diffIds[i]!));
  return {
    id: `sha256:${createHash('sha256').update(config).digest('hex')}`,
    diffIds,
    config,
    layers: layers.map((entry) => ({ entry: entry.name, size: entry.size, sha256: digests.get(entry.name)!.sha256 })),
  };
}

function fileHeader(name: string, size: number): Partial<tar.Header> & { name: string } {
  return { name, size, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: new Date(0) };
}

/**
 * The archive as the engine may load it (pass 2): only `image`, no tags, canonical names
 * (`<hex>.json`, `<n>/layer.tar`, our manifest.json), regular files only.
 */
export function cleanArchive(file: string, image: ArchiveImage): NodeJS.ReadableStream {
  const hex = image.id.slice('sha256:'.length);
  const slots = new Map<string, { n: number; size: number; sha256: string }>();
  for (const layer of image.layers)
    if (!slots.has(layer.entry)) slots.set(layer.entry, { n: slots.size, size: layer.size, sha256: layer.sha256 });
  const manifest = [
    { Config: `${hex}.json`, RepoTags: null, Layers: image.layers.map((layer) => `${slots.get(layer.entry)!.n}/layer.tar`) },
  ];
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const pack = tar.pack();
  pack.entry(fileHeader(`${hex}.json`, image.config.length), image.config);
  pack.entry(fileHeader('manifest.json', manifestBytes.length), manifestBytes);
  const written = new Set<string>();
  const stop = new AbortController();
  // A consumer that goes away (an aborted load) stops the reading too.
  pack.on('close', () => stop.abort());
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    let name: string;
    try {
      name = normaliseEntryName(header.name);
    } catch (error) {
      stopAt(extract, stream, error as Error);
      return;
    }
    const slot = slots.get(name);
    if (!slot || header.type !== 'file' || written.has(name)) {
      stream.on('end', next);
      stream.resume();
      return;
    }
    if (header.size !== slot.size) {
      stopAt(extract, stream, new ArchiveRefused('changed since it was checked', header.name));
      return;
    }
    written.add(name);
    const sink = pack.entry(fileHeader(`${slot.n}/layer.tar`, slot.size), next);
    // A failure ends the pack with it, and the pack reports it.
    sink.on('error', () => undefined);
    const hash = createHash('sha256');
    // The last chunk waits for the hash: bytes that differ from pass 1's never complete an entry.
    let held: Buffer | undefined;
    stream.on('data', (data: unknown) => {
      const chunk = data as Buffer;
      hash.update(chunk);
      if (held && !sink.write(held)) {
        stream.pause();
        sink.once('drain', () => stream.resume());
      }
      held = chunk;
    });
    stream.on('end', () => {
      if (hash.digest('hex') !== slot.sha256) {
        stopAt(extract, stream, new ArchiveRefused('changed since it was checked: its bytes are not the ones checked', header.name));
        return;
      }
      sink.end(held);
    });
  });
  pipeline(createReadStream(file), extract, { signal: stop.signal }).then(
    () => {
      const missing = [...slots.keys()].filter((name) => !written.has(name));
      if (missing.length > 0) pack.destroy(new ArchiveRefused('changed since it was checked: a layer is gone', missing[0]));
      else pack.finalize();
    },
    (error: unknown) => {
      if (!pack.destroyed) pack.destroy(asRefusal(error) as Error);
    },
  );
  return pack as unknown as NodeJS.ReadableStream;
}

/**
 * The cleaned archive of `archive`, checked on the way (`inspectArchive`, then `cleanArchive`);
 * a refusal is the stream's error. Kept for callers that cannot wait for the check; prefer the
 * two calls, which also give the image ID the engine must report.
 */
export function untaggedArchive(archive: string): NodeJS.ReadableStream {
  const out = new PassThrough();
  inspectArchive(archive).then(
    (image) => {
      const cleaned = cleanArchive(archive, image);
      cleaned.on('error', (error: Error) => out.destroy(error));
      cleaned.pipe(out);
    },
    (error: Error) => out.destroy(error),
  );
  return out;
}
