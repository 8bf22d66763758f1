// `dopq push` side of a build: walk the context folder (as the pushing user, never following a
// link), let core/build-context decide what goes in, and write it as a tar that the job keeps,
// so the job builds the code as it was at push time whatever the user edits later.
//
// The walk and the small files use Node's synchronous calls: push is a process of its own with
// nothing else to do meanwhile, and each asynchronous call is a round trip through libuv's
// thread pool (four per small file), which was most of packing a context of many small files.
import {
  closeSync,
  constants,
  createReadStream,
  createWriteStream,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readSync,
  type WriteStream,
} from 'node:fs';
import { lstat, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { digestThrough } from './digest-stream.js';
import { isNoRoom, spoolWriteError } from '../spool/spool.js';
import { planContext, type ContextEntry, type ContextLimits } from '../../core/job/build-context.js';

export class ContextError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ContextError';
  }
}

export interface PackedContext {
  bytes: number;
  files: number;
  sha256: string;
}

/** Files up to this size are read whole, just before the tar takes them: most of a context is small files. */
const SMALL_FILE = 1024 * 1024;

/** Every entry under `root`, by lstat; stops early once far past the file limit. */
function walk(root: string, limit: number): ContextEntry[] {
  const entries: ContextEntry[] = [];
  const visit = (relative: string): void => {
    const names = readdirSync(path.join(root, relative)).sort();
    for (const name of names) {
      if (entries.length > limit * 2 + 1000) return; // the plan reports the limit; no need to list a whole disk
      const rel = relative === '' ? name : `${relative}/${name}`;
      const info = lstatSync(path.join(root, rel));
      const kind = info.isSymbolicLink() ? 'symlink' : info.isDirectory() ? 'dir' : info.isFile() ? 'file' : 'other';
      entries.push({ path: rel, kind, size: kind === 'file' ? info.size : 0 });
      if (kind === 'dir') visit(rel);
    }
  };
  visit('');
  return entries;
}

/** Pack the context at `root` into `target` (created with `mode`); throws ContextError with every problem. */
export async function packContext(
  root: string,
  dockerfile: string,
  limits: ContextLimits,
  target: string,
  mode = 0o600,
): Promise<PackedContext> {
  let info;
  try {
    info = await lstat(root);
  } catch {
    throw new ContextError([`${root}: no such folder (build.context is relative to the manifest)`]);
  }
  if (!info.isDirectory()) throw new ContextError([`${root}: not a folder${info.isSymbolicLink() ? ' (a symbolic link)' : ''}`]);
  const entries = walk(root, limits.files);
  const ignoreText = entries.some((e) => e.path === '.dockerignore' && e.kind === 'file')
    ? await readFile(path.join(root, '.dockerignore'), 'utf8')
    : undefined;
  const plan = planContext(entries, ignoreText, dockerfile, limits);
  if (!plan.ok) throw new ContextError(plan.problems);

  const pack = tar.pack();
  // The plan already bounded what goes in; only the digest is wanted here.
  const through = digestThrough(Number.MAX_SAFE_INTEGER, () => new Error('unreachable'));
  const output = writeEnd(target, mode);
  const writing = pipeline(pack, through.stage, output.stream);
  writing.catch(() => undefined); // awaited below; a write that fails meanwhile must not go unhandled
  try {
    for (const entry of plan.files) {
      const file = path.join(root, entry.path);
      const changed = () => new ContextError([`${entry.path}: changed while being packed; push again`]);
      if (entry.kind === 'dir') {
        pack.entry({ name: `${entry.path}/`, type: 'directory', mode: 0o755, mtime: lstatSync(file).mtime });
        continue;
      }
      // Modes as git keeps them (0644, or 0755 when executable): COPY makes files root's, and the
      // job runs as its owner, who could not read a 0600 file in the image.
      const header = (stat: { mode: number; mtime: Date }) => ({
        name: entry.path,
        type: 'file' as const,
        size: entry.size,
        mode: 0o644 | (stat.mode & 0o111),
        mtime: stat.mtime,
      });
      if (entry.size <= SMALL_FILE) {
        const read = readSmallFile(file, entry.size);
        if (!read) throw changed();
        // A full disk stops the tar: whichever ends first decides.
        await Promise.race([
          new Promise<void>((resolve, reject) => pack.entry(header(read), read.data, (error) => (error ? reject(error) : resolve()))),
          writing,
        ]);
        continue;
      }
      const stat = await lstat(file);
      if (!stat.isFile() || stat.size !== entry.size) throw changed();
      const sink = pack.entry(header(stat));
      // A full disk stops the tar, and with it this entry's reader: whichever ends first decides.
      await Promise.race([pipeline(createReadStream(file, { flags: 'r' }), sink), writing]);
    }
    pack.finalize();
    await writing;
  } catch (error) {
    pack.destroy();
    output.stream.destroy();
    await output.closed;
    throw output.failure() === undefined ? error : spoolWriteError(path.dirname(target), 'the build context', output.failure());
  }
  return { bytes: plan.bytes, files: plan.files.filter((f) => f.kind === 'file').length, sha256: through.digest().sha256 };
}

interface SmallFile {
  data: Buffer;
  mode: number;
  mtime: Date;
}

/**
 * A planned file's bytes, read whole through one descriptor that follows no link and waits on no
 * FIFO; undefined when it is no longer the regular file of `size` bytes the plan listed.
 */
function readSmallFile(file: string, size: number): SmallFile | undefined {
  let fd;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP') return undefined; // removed, or a link put in its place
    throw error;
  }
  try {
    const info = fstatSync(fd);
    if (!info.isFile() || info.size !== size) return undefined;
    const data = Buffer.allocUnsafe(size);
    for (let at = 0; at < size;) {
      const bytesRead = readSync(fd, data, at, size - at, at);
      if (bytesRead === 0) return undefined; // shrank meanwhile
      at += bytesRead;
    }
    return { data, mode: info.mode, mtime: info.mtime };
  } finally {
    closeSync(fd);
  }
}

/** The file written into the spool, remembering its own failure: a full disk is not the context's fault. */
function writeEnd(target: string, mode: number): { stream: WriteStream; failure(): unknown; closed: Promise<void> } {
  let failure: unknown;
  const stream = createWriteStream(target, { flags: 'wx', mode });
  // A failed read reaches this stream too (pipeline destroys it with the reader's error).
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (isNoRoom(error) || error.path === target) failure ??= error;
  });
  // The caller removes the file on failure: not before the stream's open is done, or it comes back.
  const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
  return { stream, failure: () => failure, closed };
}

/** Copy an image archive (`docker save` tar) into `target`, within `maxBytes`. */
export async function copyArchive(file: string, maxBytes: number, target: string, mode = 0o600): Promise<PackedContext> {
  let info;
  try {
    info = await stat(file);
  } catch {
    throw new ContextError([`${file}: no such file (image_archive is relative to the manifest)`]);
  }
  if (!info.isFile()) throw new ContextError([`${file}: not a regular file`]);
  if (info.size > maxBytes) throw new ContextError([`${file}: ${info.size} bytes; the limit is ${maxBytes} (builds.archive_size)`]);
  const through = digestThrough(maxBytes, () => new ContextError([`${file}: grew past ${maxBytes} bytes while being copied`]));
  const output = writeEnd(target, mode);
  try {
    await pipeline(createReadStream(file), through.stage, output.stream);
  } catch (error) {
    output.stream.destroy();
    await output.closed;
    throw output.failure() === undefined ? error : spoolWriteError(path.dirname(target), 'the copy of the image archive', output.failure());
  }
  return { files: 1, ...through.digest() };
}
