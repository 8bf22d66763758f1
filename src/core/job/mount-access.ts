// Whether a user may reach, read and (for a read-write mount) write a mount source, decided the
// way the kernel decides for that user. Docker binds as root, so without this a job could mount
// what its owner could never open. Pure: the file system is asked through a probe, or through the
// fixed helper script below, run by io/user-access.ts with the user's credentials.
import path from 'node:path';

/** Who a check runs as: uid, primary gid and every supplementary gid, as the kernel sees them. */
export interface Identity {
  user: string;
  uid: number;
  gid: number;
  groups: readonly number[];
}

/** One path to check; `write` for a read-write mount. */
export interface AccessCheck {
  path: string;
  write: boolean;
}

/** Why a user may not mount a path; undefined means they may. */
export type Denial =
  | { kind: 'search'; folder: string }
  | { kind: 'missing'; at: string }
  | { kind: 'link'; at: string }
  | { kind: 'unreachable' }
  | { kind: 'read' }
  | { kind: 'enter' }
  | { kind: 'write' };

/** A normalized absolute path without a trailing slash, so prefixes compare as strings. */
export function checkPath(p: string): string {
  const normal = path.posix.normalize(p);
  return normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal;
}

/** `/a/b/c` -> [`/a`, `/a/b`, `/a/b/c`]: the path and each folder on the way, after `/`. */
export function prefixes(p: string): string[] {
  const parts = checkPath(p).split('/').filter(Boolean);
  return parts.map((_, i) => `/${parts.slice(0, i + 1).join('/')}`);
}

// Paths arrive as positional arguments (mode path mode path ...), never in the script text. One
// line per path: `<index> ok|read|enter|write|unreachable` or `<index> search|missing|link <k>`,
// k counting path components (0 is `/`). The walk runs only on failure, to name where it stops.
export const HELPER_SCRIPT = `set -f
walk() {
  [ -x / ] || { echo "search 0"; return; }
  prefix=
  k=0
  IFS=/
  for c in $1; do
    unset IFS
    [ -n "$c" ] || continue
    prefix="$prefix/$c"
    k=$((k + 1))
    if [ ! -e "$prefix" ]; then
      if [ -h "$prefix" ]; then echo "link $k"; else echo "missing $k"; fi
      return
    fi
    [ "$prefix" = "$1" ] && break
    [ -x "$prefix" ] || { echo "search $k"; return; }
  done
  unset IFS
  echo unreachable
}
i=0
while [ $# -ge 2 ]; do
  mode=$1
  p=$2
  shift 2
  printf '%s ' "$i"
  if [ ! -e "$p" ]; then walk "$p"
  elif [ ! -r "$p" ]; then echo read
  elif [ -d "$p" ] && [ ! -x "$p" ]; then echo enter
  elif [ "$mode" = rw ] && [ ! -w "$p" ]; then echo write
  else echo ok
  fi
  i=$((i + 1))
done
`;

function assertId(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new TypeError(`${what} must be a non-negative integer, got ${n}`);
}

/** setpriv's arguments: the user's uid, gid and exactly their groups, then the fixed script. */
export function helperArgs(identity: Identity, checks: readonly AccessCheck[]): string[] {
  assertId('uid', identity.uid);
  assertId('gid', identity.gid);
  identity.groups.forEach((g) => assertId('group id', g));
  const groups = [...new Set(identity.groups)].sort((a, b) => a - b);
  return [
    `--reuid=${identity.uid}`,
    `--regid=${identity.gid}`,
    groups.length > 0 ? `--groups=${groups.join(',')}` : '--clear-groups',
    '--',
    '/bin/sh',
    '-c',
    HELPER_SCRIPT,
    'sh',
    ...checks.flatMap((c) => [c.write ? 'rw' : 'ro', checkPath(c.path)]),
  ];
}

/** The folder (or link) at component `k` of `p`: 0 is `/`. */
function componentAt(p: string, k: number): string {
  if (k === 0) return '/';
  const at = prefixes(p)[k - 1];
  if (at === undefined) throw new Error(`component ${k} is beyond ${p}`);
  return at;
}

/** The helper's output, one denial (or undefined) per check; anything unexpected throws. */
export function parseHelperOutput(stdout: string, checks: readonly AccessCheck[]): (Denial | undefined)[] {
  const lines = stdout.split('\n').filter((line) => line !== '');
  if (lines.length !== checks.length) throw new Error(`the access helper answered ${lines.length} lines for ${checks.length} paths`);
  return lines.map((line, i) => {
    const match = /^(\d+) (ok|read|enter|write|unreachable|(search|missing|link) (\d+))$/.exec(line);
    if (!match || Number(match[1]) !== i) throw new Error(`unexpected line from the access helper: ${JSON.stringify(line)}`);
    const p = checkPath(checks[i]!.path);
    const word = match[3] ?? match[2]!;
    if (word === 'ok') return undefined;
    if (word === 'search') return { kind: 'search', folder: componentAt(p, Number(match[4])) };
    if (word === 'missing' || word === 'link') return { kind: word, at: componentAt(p, Number(match[4])) };
    return { kind: word as 'read' | 'enter' | 'write' | 'unreachable' };
  });
}

/** What the file system tells about a path, as the user would be told. */
export interface AccessProbe {
  /** Follows links; false when missing or not reachable. */
  exists(p: string): Promise<boolean>;
  isLink(p: string): Promise<boolean>;
  isFolder(p: string): Promise<boolean>;
  may(p: string, what: 'r' | 'w' | 'x'): Promise<boolean>;
  /** A link's target, to follow a link that does not resolve; undefined when unreadable. */
  readLink?(p: string): Promise<string | undefined>;
}

const MAX_LINKS = 40; // the kernel's own limit on links followed in one lookup

/** The same decision as the helper script, through a probe (the CLI's probe is the user's own fs calls). */
export async function classify(check: AccessCheck, probe: AccessProbe, depth = 0): Promise<Denial | undefined> {
  const p = checkPath(check.path);
  if (await probe.exists(p)) {
    if (!(await probe.may(p, 'r'))) return { kind: 'read' };
    if ((await probe.isFolder(p)) && !(await probe.may(p, 'x'))) return { kind: 'enter' };
    if (check.write && !(await probe.may(p, 'w'))) return { kind: 'write' };
    return undefined;
  }
  if (!(await probe.may('/', 'x'))) return { kind: 'search', folder: '/' };
  for (const at of prefixes(p)) {
    if (!(await probe.exists(at))) {
      if (!(await probe.isLink(at))) return { kind: 'missing', at };
      const target = depth < MAX_LINKS ? await probe.readLink?.(at) : undefined;
      if (target === undefined) return { kind: 'link', at };
      // Where the link leads names the folder that stops the user better than the link itself.
      const resolved = path.posix.resolve(path.posix.dirname(at), target, path.posix.relative(at, p) || '.');
      return (await classify({ path: resolved, write: check.write }, probe, depth + 1)) ?? { kind: 'link', at };
    }
    if (at === p) break;
    if (!(await probe.may(at, 'x'))) return { kind: 'search', folder: at };
  }
  return { kind: 'unreachable' };
}

/** Whether a denial is about permission (refused at push) rather than a path that is not there yet. */
export function isPermissionDenial(denial: Denial): boolean {
  return denial.kind !== 'missing';
}

/** The reason in words, about `user`. */
export function describeDenial(user: string, denial: Denial): string {
  switch (denial.kind) {
    case 'search':
      return `${user} cannot pass through ${denial.folder} (no search permission)`;
    case 'missing':
      return `${denial.at} does not exist for ${user}`;
    case 'link':
      return `${user} cannot follow the link ${denial.at} (it leads where they cannot pass, or nowhere)`;
    case 'unreachable':
      return `${user} cannot reach it`;
    case 'read':
      return `${user} cannot read it`;
    case 'enter':
      return `${user} cannot enter it (no search permission on the folder)`;
    case 'write':
      return `${user} cannot write it (read-write mount; add :ro?)`;
  }
}

/** `mount source SRC (resolves to REAL): REASON`. */
export function mountDenialMessage(src: string, real: string | undefined, user: string, denial: Denial): string {
  const resolves = real !== undefined && checkPath(real) !== checkPath(src) ? ` (resolves to ${real})` : '';
  return `mount source ${src}${resolves}: ${describeDenial(user, denial)}`;
}
