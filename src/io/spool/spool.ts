// The spool layout is the protocol between the CLI (run by any user) and the daemon (root).
// See man/dopq.1, section SPOOL.
import { constants } from 'node:fs';
import { chmod, lchown, link, lstat, mkdir, open, readdir, realpath, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { randomHex } from '../files/random-hex.js';
import { isJobId } from '../../core/job/envelope.js';
import { numbersOfIntakeEntry } from '../../core/job/job-ids.js';
import { SpoolError } from '../../core/errors.js';
import { ancestorProblem, ancestorsOf, configProblem, entryProblem, formatMode, type ModeRule, type Observed } from '../../core/config/spool-modes.js';

export interface SpoolPaths {
  root: string;
  intake: string;
  requests: string;
  seqDir: string;
  seq: string;
  stateDir: string;
  state: string;
  /** Which image IDs dopq built or loaded for whom (root only). */
  images: string;
  /** What the daemon says when it cannot save the state (daemon-status.ts). */
  daemonStatus: string;
  /** `dopq q`'s view as the daemon last built it (queue-view-cache.ts). */
  queueView: string;
  daemonLock: string;
  daemonPid: string;
  jobs: string;
  logs: string;
  rejected: string;
  builds: string;
  /** Finished jobs' compact accounting records, one JSON line each, kept after they leave the state (`dopq report`). */
  accounting: string;
  /** The last 24 h of GPU utilization and per-user GPUs, a point a minute, for the web dashboard's charts. */
  usageHistory: string;
  /** Interactive jobs' terminals: `<id>.sock`, each its owner's alone (0600). */
  sessions: string;
}

export function spoolPaths(root: string): SpoolPaths {
  const stateDir = path.join(root, 'state');
  return {
    root,
    intake: path.join(root, 'intake'),
    requests: path.join(root, 'requests'),
    seqDir: path.join(root, 'seq'),
    seq: path.join(root, 'seq', 'seq'),
    stateDir,
    state: path.join(stateDir, 'state.json'),
    images: path.join(stateDir, 'images.json'),
    daemonStatus: path.join(stateDir, 'daemon.status'),
    queueView: path.join(stateDir, 'queue-view.json'),
    accounting: path.join(stateDir, 'accounting.jsonl'),
    usageHistory: path.join(stateDir, 'usage-history.jsonl'),
    daemonLock: path.join(stateDir, 'daemon'),
    daemonPid: path.join(stateDir, 'daemon.pid'),
    jobs: path.join(root, 'jobs'),
    logs: path.join(root, 'logs'),
    rejected: path.join(root, 'rejected'),
    builds: path.join(root, 'builds'),
    sessions: path.join(root, 'sessions'),
  };
}

// Who may do what (lpd's and cron's spools): users drop files into intake/ and requests/ (sticky:
// nobody removes or renames another's file), read seq/, state/ and their own logs; jobs/ (env
// values) and rejected/ (files the daemon refused) are root's alone.
const LAYOUT: [keyof SpoolPaths, ModeRule][] = [
  ['root', { kind: 'dir', mode: 0o755, why: 'users read the state and their logs below it' }],
  ['intake', { kind: 'dir', mode: 0o1777, why: 'any user drops jobs; sticky, so nobody removes or replaces another\'s' }],
  ['requests', { kind: 'dir', mode: 0o1777, why: 'any user drops requests; sticky, so nobody removes another\'s' }],
  ['seqDir', { kind: 'dir', mode: 0o755, why: 'only the daemon writes the job-number floor' }],
  ['seq', { kind: 'file', mode: 0o644, why: 'the daemon writes the job-number floor; pushes read it' }],
  ['stateDir', { kind: 'dir', mode: 0o755, why: 'only the daemon writes the state; everyone reads it' }],
  ['jobs', { kind: 'dir', mode: 0o700, why: 'job files hold environment values: root only' }],
  ['logs', { kind: 'dir', mode: 0o755, why: 'each log belongs to its job\'s owner, mode 0600' }],
  ['rejected', { kind: 'dir', mode: 0o700, why: 'refused files, kept for admins: root only' }],
  ['builds', { kind: 'dir', mode: 0o700, why: "build contexts as pushed, out of their owners' reach: root only" }],
  ['sessions', { kind: 'dir', mode: 0o711, why: "interactive jobs' sockets, each its owner's (0600); only the daemon puts one there" }],
];

/** The uids that may own the spool and the config: root, and the daemon's own user. */
function trustedUids(): number[] {
  const uid = process.geteuid?.() ?? 0;
  return uid === 0 ? [0] : [0, uid];
}

/**
 * `dopq init`: create what is missing and give every spool entry its owner and mode. Folders
 * above the spool are reported by `spoolProblems`, never changed.
 */
export async function initSpool(spool: SpoolPaths): Promise<string[]> {
  const changed: string[] = [];
  try {
    // Folders above a new spool, said one by one: a path that went somewhere unexpected shows.
    for (const parent of await missingAncestors(spool.root)) {
      await mkdir(parent, { mode: 0o755 });
      await chmod(parent, 0o755); // not the umask's: others must not write above the spool
      changed.push(`created ${parent} (${formatMode(0o755)})`);
    }
    for (const [key, rule] of LAYOUT) {
      const target = spool[key];
      const seen = await observe(target);
      if (seen.kind === 'symlink' || (seen.kind !== undefined && seen.kind !== rule.kind)) {
        throw new SpoolError(target, `is ${seen.kind === 'symlink' ? 'a symbolic link' : `not a ${rule.kind === 'dir' ? 'folder' : 'file'}`}; remove it and run dopq init again`);
      }
      if (seen.kind === undefined) {
        if (rule.kind === 'dir') await mkdir(target, { recursive: true, mode: rule.mode });
        else await (await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, rule.mode)).close();
        changed.push(`created ${target} (${formatMode(rule.mode)})`);
      }
      const now = await observe(target);
      const owner = process.geteuid?.() ?? 0;
      if (now.uid !== owner) {
        await lchown(target, owner, process.getegid?.() ?? 0);
        if (seen.kind !== undefined) changed.push(`${target}: owner uid ${now.uid} -> ${owner}`);
      }
      if (((now.mode ?? 0) & 0o7777) !== rule.mode) {
        await chmod(target, rule.mode);
        if (seen.kind !== undefined) changed.push(`${target}: mode ${formatMode(now.mode ?? 0)} -> ${formatMode(rule.mode)}`);
      }
    }
  } catch (error) {
    if (error instanceof SpoolError) throw error;
    throw new SpoolError(spool.root, `cannot lay out the spool: ${(error as Error).message}`, { cause: error });
  }
  return changed;
}

/** The folders above `target` that do not exist yet, outermost first. */
async function missingAncestors(target: string): Promise<string[]> {
  const missing: string[] = [];
  for (let dir = path.dirname(target); dir !== path.dirname(dir) && (await observe(dir)).kind === undefined; dir = path.dirname(dir)) {
    missing.unshift(dir);
  }
  return missing;
}

/** Create only what is missing, with its mode (what `dopq run` does on a new spool). */
export async function createMissing(spool: SpoolPaths): Promise<void> {
  for (const [key, rule] of LAYOUT) {
    if ((await observe(spool[key])).kind !== undefined) continue;
    try {
      if (rule.kind === 'dir') {
        await mkdir(spool[key], { recursive: true, mode: rule.mode });
        await chmod(spool[key], rule.mode); // mkdir's mode passes through the umask
      } else {
        const handle = await open(spool[key], constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, rule.mode);
        await handle.chmod(rule.mode);
        await handle.close();
      }
    } catch (error) {
      throw new SpoolError(spool[key], `cannot create: ${(error as Error).message}`, { cause: error });
    }
  }
}

export interface SpoolProblem {
  path: string;
  problem: string;
}

/** Every owner or mode in the spool, above it, or on the config that would let a user take over. */
export async function spoolProblems(spool: SpoolPaths, configFile?: string): Promise<SpoolProblem[]> {
  const trusted = trustedUids();
  const problems: SpoolProblem[] = [];
  const add = (p: string, problem: string | undefined) => problem && problems.push({ path: p, problem });
  const realRoot = await realpath(spool.root).catch(() => spool.root);
  for (const ancestor of ancestorsOf(realRoot)) add(ancestor, ancestorProblem(await observe(ancestor), trusted));
  for (const [key, rule] of LAYOUT) add(spool[key], entryProblem(await observe(spool[key]), rule, trusted));
  const state = await observe(spool.state);
  if (state.kind !== undefined) add(spool.state, entryProblem(state, { kind: 'file', mode: 0o644, why: 'only the daemon writes the state' }, trusted));
  if (configFile) {
    const realConfig = await realpath(configFile).catch(() => configFile);
    const seen = new Set(ancestorsOf(realRoot));
    for (const ancestor of ancestorsOf(realConfig)) if (!seen.has(ancestor)) add(ancestor, ancestorProblem(await observe(ancestor), trusted));
    add(realConfig, configProblem(await observe(realConfig), trusted));
  }
  return problems;
}

async function observe(target: string): Promise<Observed> {
  try {
    const info = await lstat(target);
    const kind = info.isSymbolicLink() ? 'symlink' : info.isDirectory() ? 'dir' : info.isFile() ? 'file' : 'other';
    return { path: target, kind, uid: info.uid, mode: info.mode & 0o7777 };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { path: target };
    throw error;
  }
}

/** Fails with advice unless the spool is laid out. */
export async function assertSpoolReady(spool: SpoolPaths): Promise<void> {
  try {
    await stat(spool.intake);
    await stat(spool.seq);
  } catch {
    throw new SpoolError(spool.root, 'the spool is not set up', { hint: 'an admin runs `dopq init` (as root), which lays it out' });
  }
}

export const INTAKE_SUFFIX = '.job';
export const REQUEST_SUFFIX = '.req';
/** A build context packed by push, next to its job file. */
export const CONTEXT_SUFFIX = '.ctx';

/** Thrown by `publish` when the name is already there (in a sticky folder, maybe another user's). */
export class NameTakenError extends Error {}

/**
 * Dot-temp name, then into place: the daemon never sees a half-written file, and a write that
 * fails (a full disk) leaves nothing behind. Never replaces an existing name: a user who squats
 * a future job number only costs a retry. `exclusive` (job files, whose names are job numbers
 * that concurrent pushes may both pick) links instead of renaming, so that of two pushes of one
 * user only one gets the name; the file then has two links until the temp is removed a moment
 * later, which the daemon waits out (intake.ts).
 */
export async function publish(dir: string, name: string, data: string, mode = 0o600, exclusive = false): Promise<string> {
  const temp = path.join(dir, `.${name}.${await randomHex(6)}`);
  const final = path.join(dir, name);
  try {
    await writeWhole(temp, data, mode);
  } catch (error) {
    await rm(temp, { force: true });
    throw spoolWriteError(final, describe(name), error);
  }
  try {
    if (exclusive) {
      await link(temp, final);
      await rm(temp, { force: true });
    } else {
      if (await lstat(final).then(() => true, () => false)) throw new NameTakenError(final);
      await rename(temp, final);
    }
  } catch (error) {
    await rm(temp, { force: true });
    const code = (error as NodeJS.ErrnoException).code;
    // The sticky bit refuses renaming over another user's file: that name is taken.
    if (error instanceof NameTakenError || code === 'EEXIST' || code === 'EPERM' || code === 'EACCES') throw new NameTakenError(final);
    throw spoolWriteError(final, describe(name), error);
  }
  return final;
}

function describe(name: string): string {
  return name.endsWith(INTAKE_SUFFIX) ? 'the job file' : name.endsWith(REQUEST_SUFFIX) ? 'the request' : name;
}

/** Written and synced, so a full disk shows here and not later, after the rename. */
async function writeWhole(file: string, data: string, mode: number): Promise<void> {
  const handle = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** No space left, or the user's quota used up: the disk is at fault, not what was written. */
export function isNoRoom(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** A failed write into the spool, naming what could not be written (`what`) and why. */
export function spoolWriteError(subject: string, what: string, error: unknown): SpoolError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reason = code === 'ENOSPC' ? "no space left on the spool's disk" : code === 'EDQUOT' ? "the disk quota on the spool's disk is used up" : (error as Error).message;
  const hint = code === 'ENOSPC' ? "ask an admin to free space on the spool's disk (old images: docker image prune)" : code === 'EDQUOT' ? 'remove some of your files on that disk, or ask an admin to raise your quota' : undefined;
  return new SpoolError(subject, `cannot write ${what}: ${reason}`, { cause: error, ...(hint ? { hint } : {}) });
}

/** Names in a drop folder that are complete (no dot-temps) and have the suffix. */
export async function listDropped(dir: string, suffix: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return names.filter((name) => !name.startsWith('.') && name.endsWith(suffix)).sort(byLeadingNumber);
}

function byLeadingNumber(a: string, b: string): number {
  return (parseInt(a, 10) || 0) - (parseInt(b, 10) || 0) || a.localeCompare(b);
}

/** `<first>-<last>.job` (an array's tasks) or `<id>.job`: the numbers it holds; else undefined. */
export function jobRangeOfIntakeName(name: string): { first: number; last: number } | undefined {
  if (!name.endsWith(INTAKE_SUFFIX)) return undefined;
  return numbersOfIntakeEntry(name);
}

/** `<id>.job`, as push names it (no leading zeros, so one id has one name); else undefined. */
export function jobIdOfIntakeName(name: string): number | undefined {
  const match = /^([1-9]\d{0,9})\.job$/.exec(name);
  const id = match ? Number(match[1]) : undefined;
  return isJobId(id) ? id : undefined;
}

/**
 * A context or archive push packed but never published (the push died in between): its job
 * file never came, so after an hour it is removed (as root: the intake is sticky). Whatever
 * lies under such a name (a folder, a link) is dealt with by `discardEntry`; one that cannot be
 * is left and reported in `failed`, so a bad entry never stops the clean-up of the others.
 */
export async function removeOrphanContexts(intake: string, now = Date.now(), quarantine?: string): Promise<{ removed: number; failed: string[] }> {
  let removed = 0;
  const failed: string[] = [];
  const names = await readdir(intake).catch(() => [] as string[]);
  const jobs = new Set(names.filter((n) => n.endsWith('.job')).map((n) => n.slice(0, -4)));
  for (const name of names) {
    const numbered = /^(\d+)\.ctx$/.exec(name);
    const temp = /^\.push-.*\.ctx$/.test(name);
    if (!temp && (!numbered || jobs.has(numbered[1]!))) continue;
    const info = await lstat(path.join(intake, name)).catch(() => undefined);
    if (!info || now - info.mtimeMs < 3600_000) continue;
    try {
      if ((await discardEntry(path.join(intake, name), quarantine)) !== 'gone') removed += 1;
    } catch (error) {
      failed.push(`${name}: ${(error as Error).message}`);
    }
  }
  return { removed, failed };
}

/**
 * Take an entry a user left in a drop folder out of their reach, as root: a file, link, FIFO or
 * device is unlinked (never opened); a folder is moved into `quarantine` (root only), never
 * walked, since a user could swap anything inside it for a link while root recursed. Without a
 * quarantine folder a folder is left where it is (`'kept'`).
 */
export async function discardEntry(file: string, quarantine?: string): Promise<'removed' | 'moved' | 'kept' | 'gone'> {
  const info = await lstat(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!info) return 'gone';
  if (!info.isDirectory()) {
    try {
      await unlink(file);
      return 'removed';
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return 'gone';
      if (code !== 'EISDIR' && code !== 'EPERM') throw error; // EISDIR/EPERM: swapped for a folder meanwhile
    }
  }
  // An empty folder (a squatted name) just goes: no walk, and nothing piles up in rejected/.
  if (await rmdir(file).then(() => true, () => false)) return 'removed';
  if (!quarantine) return 'kept';
  const target = path.join(quarantine, `dropped-${path.basename(file).replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64)}-${Date.now()}-${await randomHex(4)}`);
  try {
    await rename(file, target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw error;
  }
  return 'moved';
}
