// At push, the caller's own view of their mount sources: push runs as the submitting user, so the
// kernel answers for their uid, groups and ACLs directly. Early feedback only; the daemon checks
// again as the owner at start, which is what keeps a job from mounting what they cannot open.
import { constants } from 'node:fs';
import { access, lstat, readlink, stat } from 'node:fs/promises';
import { PermissionError } from '../core/errors.js';
import type { Mount } from '../core/job/manifest.js';
import { classify, isPermissionDenial, mountDenialMessage, type AccessProbe } from '../core/job/mount-access.js';
import { currentCaller } from '../io/host/users.js';

const MODE = { r: constants.R_OK, w: constants.W_OK, x: constants.X_OK } as const;

const ownProbe: AccessProbe = {
  exists: (p) =>
    access(p, constants.F_OK).then(
      () => true,
      () => false,
    ),
  isLink: (p) =>
    lstat(p).then(
      (s) => s.isSymbolicLink(),
      () => false,
    ),
  isFolder: (p) =>
    stat(p).then(
      (s) => s.isDirectory(),
      () => false,
    ),
  may: (p, what) =>
    access(p, MODE[what]).then(
      () => true,
      () => false,
    ),
  readLink: (p) => readlink(p).catch(() => undefined),
};

/**
 * Refuse (exit 77) mounts the caller may not reach, read or write, naming the file, the field and
 * why. A source that does not exist is left to the daemon, which refuses it at start. Root is
 * not checked: it may open anything.
 */
export async function assertMountsAccessible(file: string, mounts: readonly Mount[]): Promise<void> {
  if ((process.getuid?.() ?? 0) === 0 || mounts.length === 0) return;
  const denials = await Promise.all(mounts.map((mount) => classify({ path: mount.src, write: !mount.readOnly }, ownProbe)));
  const refused = denials.flatMap((denial, i) => (denial && isPermissionDenial(denial) ? [{ i, denial }] : []));
  if (refused.length === 0) return;
  const { user } = await currentCaller();
  const lines = refused.map(({ i, denial }) => `mounts[${i}]: ${mountDenialMessage(mounts[i]!.src, undefined, user, denial)}`);
  throw new PermissionError(file, lines.join('\n'), { hint: 'mount only what you can open yourself; the job runs with your permissions' });
}
