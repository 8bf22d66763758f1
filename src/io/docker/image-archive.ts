// `docker save` archives as dopq loads them: the reading and writing. A user's archive never
// reaches the engine as it is: the engine cleans entry names, follows links and falls back to
// legacy formats when it extracts, so any filter on entry names can be walked around. Pass 1
// reads the archive as the engine would, hashing every file as it streams; what that reading
// means (its one image, whether each layer holds its diff_id's data) is decided in
// core/job/image-archive-check.ts. Pass 2 writes a new tar holding only that image's config and
// layers, under names we chose, with a manifest we wrote, untagged (re-checking the layer
// bytes). The loaded image is then tagged for its job only.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { ArchiveRefused, normaliseEntryName, recordEntry, type ArchiveEntry, type ArchiveIndex } from '../../core/job/archive-entries.js';
import {
  ARCHIVE_HEAD_BYTES,
  checkArchiveHead,
  cleanLayout,
  compressionOf,
  DEFAULT_MAX_INFLATED,
  describeImage,
  keptInPass1,
  locateImage,
  MAGIC_BYTES,
  manifestEntry,
  type ArchiveImage,
  type Compression,
  type EntryDigest,
} from '../../core/job/image-archive-check.js';

export { ArchiveRefused } from '../../core/job/archive-entries.js';
export type { ArchiveImage } from '../../core/job/image-archive-check.js';

/** The engine would gunzip; we read the plain tar only, and say so rather than "invalid header". */
async function refuseCompressed(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(ARCHIVE_HEAD_BYTES), 0, ARCHIVE_HEAD_BYTES, 0);
    checkArchiveHead(buffer.subarray(0, bytesRead));
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
  const { archive, kept, digests } = await scanArchive(file, keptInPass1, { left: cap, cap }, signal);
  const image = locateImage(archive, kept.get(manifestEntry(archive).name)!.toString('utf8'));
  const name = image.config.name;
  const config = kept.get(name) ?? (await scanArchive(file, (entry) => entry.name === name, undefined, signal)).kept.get(name);
  return describeImage(image, config, digests);
}

function fileHeader(name: string, size: number): Partial<tar.Header> & { name: string } {
  return { name, size, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: new Date(0) };
}

/**
 * The archive as the engine may load it (pass 2): only `image`, no tags, canonical names
 * (`<hex>.json`, `<n>/layer.tar`, our manifest.json), regular files only.
 */
export function cleanArchive(file: string, image: ArchiveImage): NodeJS.ReadableStream {
  const { configName, manifest, slots } = cleanLayout(image);
  const pack = tar.pack();
  pack.entry(fileHeader(configName, image.config.length), image.config);
  pack.entry(fileHeader('manifest.json', manifest.length), manifest);
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
