// Bind mounts as Docker gets them: each source resolved with realpath and checked again against
// the allowed roots, so a symlink inside an allowed root cannot lead outside it. The Docker
// socket, and any folder holding it, is refused even under an allowed root: it hands over the host.
// dockerd binds as root, so each source is also checked as the job's owner: they must be able to
// reach and read it (and write it, read-write), or a job would hand them what they cannot open.
import { chmod, chown, lstat, mkdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import { USER_PLACEHOLDER, type Config } from '../../core/config/config.js';
import type { Mount } from '../../core/job/manifest.js';
import { isUnderRoots } from '../../core/job/manifest.js';
import { mountDenialMessage, type AccessCheck, type Identity } from '../../core/job/mount-access.js';
import { USER_NAME } from '../../core/permissions.js';
import { AccessCheckError, checkAccessAs } from '../../io/host/user-access.js';

/** A job that may not start as asked (a mount, its output folder, its owner): the job fails, nothing else. */
export class StartRefused extends Error {}

/** A mount source the job's owner may not reach, read or write: the job is refused, not failed. */
export class MountDenied extends StartRefused {
  readonly reason = 'mount-denied' as const;
}

/** Paths no job may mount, nor any folder above them. */
export async function forbiddenPaths(config: Config): Promise<string[]> {
  const paths = [config.docker.socket, '/var/run/docker.sock', '/run/docker.sock'];
  return [...new Set(await Promise.all(paths.map((p) => realpath(p).catch(() => path.posix.normalize(p)))))];
}

function overlaps(a: string, b: string): boolean {
  const under = (x: string, y: string) => x === y || x.startsWith(y === '/' ? '/' : `${y}/`);
  return under(a, b) || under(b, a);
}

export async function resolveBinds(
  mounts: readonly Mount[],
  allowedRoots: readonly string[],
  forbidden: readonly string[],
  owner: Identity,
): Promise<string[]> {
  const roots = await Promise.all(allowedRoots.map((root) => realpath(root).catch(() => root)));
  const reals: string[] = [];
  for (const mount of mounts) {
    let real: string;
    try {
      real = await realpath(mount.src);
    } catch (error) {
      throw new StartRefused(`mount source ${mount.src} does not exist (${(error as NodeJS.ErrnoException).code})`);
    }
    if (!isUnderRoots(real, roots)) throw new StartRefused(`mount source ${mount.src} resolves to ${real}, outside the allowed roots`);
    const clash = forbidden.find((f) => overlaps(real, f));
    if (clash)
      throw new StartRefused(`mount source ${mount.src} resolves to ${real}, which is or holds the Docker socket ${clash}: never mounted`);
    reals.push(real);
  }
  await assertOwnerMay(mounts, reals, owner);
  return mounts.map((mount, i) => `${reals[i]}:${mount.dst}:${mount.readOnly ? 'ro' : 'rw'}`);
}

/**
 * Both the source as written and its realpath, in one helper run as the owner: the written path
 * is how the user would open it (through their own links), the realpath is what Docker binds.
 */
async function assertOwnerMay(mounts: readonly Mount[], reals: readonly string[], owner: Identity): Promise<void> {
  if (mounts.length === 0) return;
  if (!owner || !Number.isSafeInteger(owner.uid)) throw new StartRefused('no owner identity to check the mounts as'); // fail closed
  if (owner.uid === 0) return; // root may open anything
  const checks: AccessCheck[] = mounts.flatMap((mount, i) => [
    { path: mount.src, write: !mount.readOnly },
    { path: reals[i]!, write: !mount.readOnly },
  ]);
  let denials;
  try {
    denials = await checkAccessAs(owner, checks);
  } catch (error) {
    if (error instanceof AccessCheckError) throw new StartRefused(error.message);
    throw error;
  }
  for (const [i, mount] of mounts.entries()) {
    // The realpath's reason names the folder that stops them even when they came by a link.
    const denial = denials[2 * i + 1] ?? denials[2 * i];
    if (denial) throw new MountDenied(mountDenialMessage(mount.src, reals[i], owner.user, denial));
  }
}

/**
 * DoPQ's /outdir/<user>: the owner's folder from the template, made on first use (0700, theirs)
 * and bound read-write. An existing one must be a real folder the owner owns; a symlink there
 * could point the bind anywhere.
 */
export async function outputBind(config: Config, user: string, uid: number, gid: number): Promise<string | undefined> {
  const output = config.mounts.output;
  if (!output) return undefined;
  // A user name is one safe path component; machine accounts (a trailing $) get no folder.
  if (!USER_NAME.test(user) || user.endsWith('$'))
    throw new StartRefused(`cannot make an output folder for the user name ${JSON.stringify(user)}`);
  const folder = output.host.split(USER_PLACEHOLDER).join(user);
  // Jobs of one user start concurrently: one makes the folder, the others wait for it to be theirs.
  const previous = making.get(folder) ?? Promise.resolve();
  const made = previous.then(() => makeOwnedFolder(folder, uid, gid));
  making.set(
    folder,
    made.catch(() => undefined),
  );
  await made;
  const info = await lstat(folder);
  if (info.isSymbolicLink() || !info.isDirectory())
    throw new StartRefused(`the output folder ${folder} is not a plain folder (a symlink?): refused`);
  if (info.uid !== uid) throw new StartRefused(`the output folder ${folder} belongs to uid ${info.uid}, not to ${user}`);
  return `${await realpath(folder)}:${output.container}:rw`;
}

const making = new Map<string, Promise<void>>();

async function makeOwnedFolder(folder: string, uid: number, gid: number): Promise<void> {
  try {
    await mkdir(folder, { mode: 0o700 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return; // checked by the caller
    if (code === 'ENOENT') throw new StartRefused(`the output folder's parent ${path.dirname(folder)} does not exist (mounts.output.host)`);
    throw new StartRefused(`cannot make the output folder ${folder}: ${(error as Error).message}`);
  }
  await chown(folder, uid, gid);
  await chmod(folder, 0o700);
}
