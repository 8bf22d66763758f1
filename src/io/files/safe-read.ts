// Reading a file that another (untrusted) user dropped into a shared folder, as root.
// O_NOFOLLOW refuses a symlink, O_NONBLOCK keeps a FIFO from hanging us, and every check is made
// on the opened descriptor, so swapping the file after a check changes nothing.
import { constants, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { digestThrough } from './digest-stream.js';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';

export interface OwnedFile {
  text: string;
  uid: number;
  gid: number;
  ino: number;
  mtimeMs: number;
  size: number;
}

export class UnsafeFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
    /** Who owns what lies there (a symlink's own owner for a link), when known: whom to tell. */
    readonly uid?: number,
    /** 'hard-links': a plain file with more than one name (push's own, for a moment, as it publishes). */
    readonly kind?: 'hard-links',
  ) {
    super(message);
    this.name = 'UnsafeFileError';
  }
}

const FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

/**
 * Open `file` for reading only if it is a plain file with one link and at most `maxBytes`, and
 * the file checked is the file opened; every later read goes through this descriptor.
 */
async function openOwned(file: string, maxBytes: number): Promise<{ handle: FileHandle; stat: Stats }> {
  // lstat first, so a FIFO or device is never opened at all (opening some devices acts).
  const before = await lstat(file);
  if (before.isSymbolicLink())
    throw new UnsafeFileError(file, 'is a symbolic link; dopq reads only files their owner wrote themselves', before.uid);
  if (!before.isFile()) throw new UnsafeFileError(file, 'is not a regular file (a FIFO, device or folder)', before.uid);
  let handle;
  try {
    handle = await open(file, FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new UnsafeFileError(file, 'was replaced by a symbolic link while being read', before.uid);
    throw error;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new UnsafeFileError(file, 'was replaced by something other than a regular file while being read', stat.uid);
    if (stat.ino !== before.ino || stat.dev !== before.dev)
      throw new UnsafeFileError(file, 'was replaced by another file while being read', stat.uid);
    if (stat.nlink === 0) throw new UnsafeFileError(file, 'was replaced or removed while being read', stat.uid);
    if (stat.nlink !== 1)
      throw new UnsafeFileError(
        file,
        `has ${stat.nlink} hard links; a job file must have exactly one, so its owner is the user who wrote it`,
        stat.uid,
        'hard-links',
      );
    if (stat.size > maxBytes) throw new UnsafeFileError(file, `is ${stat.size} bytes; the limit is ${maxBytes}`, stat.uid);
    return { handle, stat };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

export async function readOwnedFile(file: string, maxBytes: number): Promise<OwnedFile> {
  const { handle, stat } = await openOwned(file, maxBytes);
  try {
    // Sized by what fstat says (plus room to notice growth), never more than the cap allows.
    let buffer = Buffer.allocUnsafe(Math.min(maxBytes + 1, stat.size + 4096));
    let length = 0;
    while (length <= maxBytes) {
      if (length === buffer.length)
        buffer = Buffer.concat([buffer, Buffer.allocUnsafe(Math.min(maxBytes + 1, buffer.length * 2) - buffer.length)]);
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > maxBytes) throw new UnsafeFileError(file, `grew past the limit of ${maxBytes} bytes while being read`, stat.uid);
    return {
      text: buffer.subarray(0, length).toString('utf8'),
      uid: stat.uid,
      gid: stat.gid,
      ino: stat.ino,
      mtimeMs: stat.mtimeMs,
      size: length,
    };
  } finally {
    await handle.close();
  }
}

export interface CopiedFile {
  uid: number;
  bytes: number;
  sha256: string;
}

/**
 * `readOwnedFile` for large files: the same checks on the opened descriptor, then its content
 * streamed into `target` (created, root's, `mode`) with its sha256, so the user can no longer
 * change what the daemon uses.
 */
export async function copyOwnedFile(file: string, maxBytes: number, target: string, mode = 0o600): Promise<CopiedFile> {
  const { handle, stat } = await openOwned(file, maxBytes);
  try {
    const through = digestThrough(
      maxBytes,
      () => new UnsafeFileError(file, `grew past the limit of ${maxBytes} bytes while being read`, stat.uid),
    );
    await pipeline(
      handle.createReadStream({ autoClose: false, start: 0 }),
      through.stage,
      createWriteStream(target, { flags: 'wx', mode }),
    );
    return { uid: stat.uid, ...through.digest() };
  } finally {
    await handle.close();
  }
}
