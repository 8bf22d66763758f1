// The job-number floor, seq/seq: the highest number the daemon has taken in, written by the
// daemon alone (root's file in root's folder) before it removes the intake files it took, so a
// push that lists the intake and then reads the floor never picks a number already used.
// See core/job-ids.ts for why there is no shared counter.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { parseIdFloor } from '../../core/job/job-ids.js';
import { writeFileAtomic } from '../files/atomic-write.js';

/** More than the floor ever holds: a longer file is damaged, and reading it all is not needed. */
const READ_LIMIT = 16;

/** The floor, or undefined when the file is missing, empty or damaged (then the state says). */
export async function readIdFloor(seqFile: string): Promise<number | undefined> {
  let handle;
  try {
    handle = await open(seqFile, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    if (!(await handle.stat()).isFile()) return undefined;
    const buffer = Buffer.alloc(READ_LIMIT + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return parseIdFloor(buffer.subarray(0, bytesRead).toString('latin1'));
  } finally {
    await handle.close();
  }
}

/** Written whole (temp, fsync, rename): a crash or a full disk leaves the old floor. */
export async function writeIdFloor(seqFile: string, floor: number): Promise<void> {
  await writeFileAtomic(seqFile, `${floor}\n`, { mode: 0o644 });
}
