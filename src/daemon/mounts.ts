// Bind mounts as Docker gets them: each source resolved with realpath and checked again against
// the allowed roots, so a symlink inside an allowed root cannot lead outside it.
import { realpath } from 'node:fs/promises';
import type { Mount } from '../core/manifest.js';
import { isUnderRoots } from '../core/manifest.js';

export class MountRefused extends Error {}

export async function resolveBinds(mounts: readonly Mount[], allowedRoots: readonly string[]): Promise<string[]> {
  const roots = await Promise.all(allowedRoots.map((root) => realpath(root).catch(() => root)));
  const binds: string[] = [];
  for (const mount of mounts) {
    let real: string;
    try {
      real = await realpath(mount.src);
    } catch (error) {
      throw new MountRefused(`mount source ${mount.src} does not exist (${(error as NodeJS.ErrnoException).code})`);
    }
    if (!isUnderRoots(real, roots)) throw new MountRefused(`mount source ${mount.src} resolves to ${real}, outside the allowed roots`);
    binds.push(`${real}:${mount.dst}:${mount.readOnly ? 'ro' : 'rw'}`);
  }
  return binds;
}
