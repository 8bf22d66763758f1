// Which owners and modes keep a shared spool safe, as a pure check over what lstat reported.
// The daemon runs as root and trusts the spool's folders: a folder that another user can write
// (without the sticky bit) lets them replace the daemon's state, read others' job files, or
// plant a symlink where the daemon writes. Like sshd's StrictModes, every folder above the spool
// and the config counts too: whoever can rename an ancestor can swap the whole tree.

export type EntryKind = 'dir' | 'file';

export interface ModeRule {
  kind: EntryKind;
  /** The mode `dopq init` gives it (permission bits and sticky). */
  mode: number;
  /** Why it has this mode, for messages. */
  why: string;
}

export interface Observed {
  path: string;
  /** undefined: it does not exist. */
  kind?: EntryKind | 'symlink' | 'other';
  uid?: number;
  mode?: number;
}

export const STICKY = 0o1000;
const GROUP_OTHER_WRITE = 0o022;
const GROUP_OTHER_ALL = 0o077;

export function formatMode(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/**
 * What is wrong with one spool entry, or undefined. `trusted` are the uids that may own it
 * (root and the daemon's own user). Group/other write is allowed only where the rule itself
 * grants it, and then only with the sticky bit; a private rule (no group/other bits) must stay so.
 */
export function entryProblem(seen: Observed, rule: ModeRule, trusted: readonly number[]): string | undefined {
  const expected = `expected a ${rule.kind === 'dir' ? 'folder' : 'file'} owned by root, mode ${formatMode(rule.mode)} (${rule.why})`;
  if (seen.kind === undefined) return `is missing; ${expected}`;
  if (seen.kind === 'symlink') return `is a symbolic link; ${expected}`;
  if (seen.kind !== rule.kind) return `is not a ${rule.kind === 'dir' ? 'folder' : 'regular file'}; ${expected}`;
  if (seen.uid === undefined || !trusted.includes(seen.uid)) return `is owned by uid ${seen.uid}; ${expected}`;
  const mode = seen.mode ?? 0;
  const writableByOthers = (mode & GROUP_OTHER_WRITE) !== 0;
  const allowedWrite = (rule.mode & GROUP_OTHER_WRITE) !== 0;
  if (writableByOthers && !allowedWrite) return `has mode ${formatMode(mode)}, writable by others; ${expected}`;
  if (writableByOthers && rule.kind === 'dir' && (mode & STICKY) === 0)
    return `has mode ${formatMode(mode)}, without the sticky bit anyone may delete others' files; ${expected}`;
  if ((rule.mode & GROUP_OTHER_ALL) === 0 && (mode & GROUP_OTHER_ALL) !== 0)
    return `has mode ${formatMode(mode)}, open to others; ${expected}`;
  return undefined;
}

/**
 * A folder above the spool or the config: owned by a trusted uid and not writable by others,
 * unless sticky (like /tmp: others cannot rename what root owns there).
 */
export function ancestorProblem(seen: Observed, trusted: readonly number[]): string | undefined {
  const expected = 'every folder above the spool and the config must be owned by root and not writable by others (or sticky, like /tmp)';
  if (seen.kind === undefined) return undefined; // the spool itself is reported missing
  if (seen.kind !== 'dir') return `is not a folder; ${expected}`;
  if (seen.uid === undefined || !trusted.includes(seen.uid)) return `is owned by uid ${seen.uid}; ${expected}`;
  const mode = seen.mode ?? 0;
  if ((mode & GROUP_OTHER_WRITE) !== 0 && (mode & STICKY) === 0) return `has mode ${formatMode(mode)}, writable by others; ${expected}`;
  return undefined;
}

/** The config file: the daemon obeys it as root, so only root may change it. */
export function configProblem(seen: Observed, trusted: readonly number[]): string | undefined {
  const expected = 'the config must be a regular file owned by root and writable by nobody else (e.g. 0644)';
  if (seen.kind !== 'file') return `is ${seen.kind === 'symlink' ? 'a symbolic link' : 'not a regular file'}; ${expected}`;
  if (seen.uid === undefined || !trusted.includes(seen.uid)) return `is owned by uid ${seen.uid}; ${expected}`;
  if (((seen.mode ?? 0) & GROUP_OTHER_WRITE) !== 0) return `has mode ${formatMode(seen.mode ?? 0)}, writable by others; ${expected}`;
  return undefined;
}

/** `/a/b/c` -> [`/`, `/a`, `/a/b`]: the folders above an absolute path. */
export function ancestorsOf(absolutePath: string): string[] {
  const parts = absolutePath.split('/').filter(Boolean);
  const result = ['/'];
  for (let i = 1; i < parts.length; i++) result.push(`/${parts.slice(0, i).join('/')}`);
  return result;
}
