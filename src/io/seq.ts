// Job numbers, lpd `.seq` style: a small counter file, incremented under an exclusive lock.
// Unlike lpd, it never wraps.
import { lstat, open, rm } from 'node:fs/promises';
import lockfile from 'proper-lockfile';
import { LockBusyError, SpoolError } from '../core/errors.js';

const LOCK_OPTIONS = { stale: 10_000, retries: { retries: 50, minTimeout: 5, maxTimeout: 100, randomize: true }, realpath: false };

export async function nextJobId(seqFile: string): Promise<number> {
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(seqFile, LOCK_OPTIONS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOCKED') throw new LockBusyError(seqFile, 'the job counter is locked by another push; try again');
    throw new SpoolError(seqFile, `cannot lock the job counter: ${(error as Error).message}`, { cause: error });
  }
  try {
    const handle = await open(seqFile, 'r+');
    try {
      const text = (await handle.readFile('utf8')).trim();
      const next = (/^\d+$/.test(text) ? Number(text) : 0) + 1;
      await handle.truncate(0);
      await handle.write(`${next}\n`, 0);
      await handle.sync();
      return next;
    } finally {
      await handle.close();
    }
  } finally {
    await release();
  }
}

/** Raise the counter to at least `floor` (the daemon repairs a counter that went backwards). */
export async function raiseSeq(seqFile: string, floor: number): Promise<void> {
  const release = await lockfile.lock(seqFile, LOCK_OPTIONS);
  try {
    const handle = await open(seqFile, 'r+');
    try {
      const text = (await handle.readFile('utf8')).trim();
      const current = /^\d+$/.test(text) ? Number(text) : 0;
      if (current < floor) {
        await handle.truncate(0);
        await handle.write(`${floor}\n`, 0);
      }
    } finally {
      await handle.close();
    }
  } finally {
    await release();
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
