// Job numbers, lpd `.seq` style: a small counter file, incremented under an exclusive lock.
// Unlike lpd, it never wraps. The number is written over the old one and the file cut after it,
// never emptied first: a number is never shorter than the one before, so the write lands in the
// block the file already holds, and on a full disk a failed write leaves the old number.
import { lstat, open, rm, type FileHandle } from 'node:fs/promises';
import lockfile from 'proper-lockfile';
import { LockBusyError, SpoolError } from '../core/errors.js';
import { isNoRoom, spoolWriteError } from './spool.js';

// Push holds the lock while it publishes (a few fsyncs): on a loaded machine with many pushes
// at once that queue is long, so a push waits up to about half a minute before it says busy.
const LOCK_OPTIONS = { stale: 10_000, retries: { retries: 200, minTimeout: 5, maxTimeout: 200, randomize: true }, realpath: false };
/** More than any counter holds: a longer file is damaged, and reading it all is not needed. */
const READ_LIMIT = 64;

export interface TakeOptions {
  /** The highest id in use elsewhere (state, intake): asked only when the counter is empty or damaged. */
  floor?: () => Promise<number>;
}

export async function nextJobId(seqFile: string, options: TakeOptions = {}): Promise<number> {
  return withNextJobId(seqFile, async (id) => id, options);
}

/**
 * Take the next number and run `use` with it while the counter is still locked. When `use`
 * throws, the counter is set back, so a push that could not write its job burns no number.
 */
export async function withNextJobId<T>(seqFile: string, use: (id: number) => Promise<T>, options: TakeOptions = {}): Promise<T> {
  const release = await lockSeq(seqFile);
  try {
    const handle = await openSeq(seqFile);
    try {
      const current = await readCounter(handle, options.floor);
      try {
        await writeCounter(seqFile, handle, current + 1);
        return await use(current + 1);
      } catch (error) {
        // Never longer than what the file held, so it needs no new space.
        await writeCounter(seqFile, handle, current).catch(() => undefined);
        throw error;
      }
    } finally {
      await handle.close();
    }
  } finally {
    await release();
  }
}

/** Raise the counter to at least `floor` (the daemon repairs a counter that went backwards). */
export async function raiseSeq(seqFile: string, floor: number): Promise<void> {
  const release = await lockSeq(seqFile);
  try {
    const handle = await openSeq(seqFile);
    try {
      const text = await readHead(handle);
      const { value, clean } = parseCounter(text);
      // An empty counter (a new spool) stays empty until the first push: nothing to repair.
      if (value < floor || (!clean && text !== '')) await writeCounter(seqFile, handle, Math.max(value, floor));
    } finally {
      await handle.close();
    }
  } finally {
    await release();
  }
}

async function lockSeq(seqFile: string): Promise<() => Promise<void>> {
  try {
    return await lockfile.lock(seqFile, LOCK_OPTIONS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOCKED') throw new LockBusyError(seqFile, 'the job counter is locked by another push; try again');
    // The lock is a folder: on a full disk (ext4) even that cannot be made.
    if (isNoRoom(error)) throw spoolWriteError(seqFile, 'the lock on the job counter', error);
    throw new SpoolError(seqFile, `cannot lock the job counter: ${(error as Error).message}`, { cause: error });
  }
}

async function openSeq(seqFile: string): Promise<FileHandle> {
  try {
    return await open(seqFile, 'r+');
  } catch (error) {
    throw new SpoolError(seqFile, `cannot open the job counter: ${(error as Error).message}`, { cause: error });
  }
}

async function readHead(handle: FileHandle): Promise<string> {
  const buffer = Buffer.alloc(READ_LIMIT + 1);
  const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
  return buffer.subarray(0, bytesRead).toString('latin1');
}

/** `clean` is false for an empty or damaged counter; `value` is then its leading number, or 0. */
export function parseCounter(text: string): { value: number; clean: boolean } {
  if (text.length <= READ_LIMIT && /^\d+\n?$/.test(text) && Number.isSafeInteger(Number(text))) return { value: Number(text), clean: true };
  const leading = /^\s*(\d{1,15})/.exec(text)?.[1];
  return { value: leading ? Number(leading) : 0, clean: false };
}

/** The counter's number; an empty or damaged one never goes back below what is in use. */
async function readCounter(handle: FileHandle, floor?: () => Promise<number>): Promise<number> {
  const { value, clean } = parseCounter(await readHead(handle));
  return clean || !floor ? value : Math.max(value, await floor());
}

async function writeCounter(seqFile: string, handle: FileHandle, value: number): Promise<void> {
  const text = Buffer.from(`${value}\n`, 'latin1');
  try {
    for (let done = 0; done < text.length;) {
      done += (await handle.write(text, done, text.length - done, done)).bytesWritten;
    }
    // Only cuts what a damaged, longer counter left after the number: needs no space.
    await handle.truncate(text.length);
    await handle.sync();
  } catch (error) {
    throw spoolWriteError(seqFile, 'the job counter', error);
  }
}

/**
 * seq/ is sticky, so a user cannot remove a lock another user's crashed push left behind; the
 * daemon (root) removes it once it has not been refreshed for three stale periods.
 */
export async function breakStaleSeqLock(seqFile: string, now = Date.now()): Promise<boolean> {
  const lock = `${seqFile}.lock`;
  try {
    const info = await lstat(lock);
    if (now - info.mtimeMs < 3 * LOCK_OPTIONS.stale) return false;
    await rm(lock, { recursive: true, force: true });
    return true;
  } catch {
    return false;
  }
}
