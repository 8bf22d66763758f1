// A small filesystem for the spool (tmpfs), a filler that makes it full on demand, and the
// clean-up of every mount under the run's folder before that folder is removed.
import { execFile } from 'node:child_process';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function mountSmallFs(dir: string, size = '64m'): Promise<void> {
  await mkdir(dir, { recursive: true });
  // mode=755: dopq run refuses a spool below a folder others can write.
  await run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=755`, 'tmpfs', dir]);
}

/** Fill the filesystem of `file` with it, until the kernel says ENOSPC. */
export async function fillUp(file: string): Promise<void> {
  const handle = await open(file, 'a', 0o600);
  const chunk = Buffer.alloc(1024 * 1024, 0x61);
  try {
    for (let size = chunk.length; size >= 512;) {
      try {
        await handle.write(chunk.subarray(0, size));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
        size = Math.floor(size / 2); // the last few blocks, down to none
      }
    }
  } finally {
    await handle.close();
  }
}

/** Keep `file`'s filesystem full for `ms` (topping up what others free), then free it. */
export async function keepFull(file: string, ms: number, aborted: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  try {
    while (Date.now() < until && !aborted()) {
      await fillUp(file);
      await sleep(200);
    }
  } finally {
    await rm(file, { force: true });
  }
}

/** Mount points at or below `dir`, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const table = await readFile('/proc/self/mounts', 'utf8');
  const points = table
    .split('\n')
    .map((line) => line.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((point): point is string => point !== undefined && (point === dir || point.startsWith(`${dir}/`)));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Unmount everything below `dir` (lazily if busy), then remove it; never crosses a mount left over. */
export async function removeTree(dir: string): Promise<void> {
  for (const point of await mountsUnder(dir)) {
    await run('umount', [point]).catch(() => run('umount', ['-l', point]).catch(() => undefined));
  }
  const left = await mountsUnder(dir);
  if (left.length > 0) throw new Error(`still mounted, not removing ${dir}: ${left.join(', ')}`);
  await rm(dir, { recursive: true, force: true });
}

export const fillerPath = (fsDir: string) => path.join(fsDir, 'filler');
