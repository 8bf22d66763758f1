// The disk guard (DoPQ's min.space): before push copies a context or archive into the spool and
// before the daemon builds, the spool's file system must keep builds.min_free free. When short,
// that push or build fails with a clear message; nothing already queued is touched. Job output
// has its own floor, limits.log_min_free (job-log.ts).
import { statfs } from 'node:fs/promises';
import { SpoolError } from '../../core/errors.js';
import { formatSize } from '../../core/units.js';

export async function freeBytes(folder: string): Promise<number> {
  const info = await statfs(folder);
  return info.bavail * info.bsize;
}

/** Why there is no room, or undefined. */
export async function diskShortage(folder: string, minFree: number): Promise<string | undefined> {
  const free = await freeBytes(folder);
  return free < minFree ? `only ${formatSize(free)} free on the spool's disk; builds.min_free is ${formatSize(minFree)}` : undefined;
}

export async function assertDiskRoom(ctx: { spool: { root: string }; config: { builds: { min_free: number } } }): Promise<void> {
  const shortage = await diskShortage(ctx.spool.root, ctx.config.builds.min_free);
  if (shortage)
    throw new SpoolError(ctx.spool.root, shortage, {
      hint: 'nothing was queued; ask an admin to free space (old images: docker image prune)',
    });
}
