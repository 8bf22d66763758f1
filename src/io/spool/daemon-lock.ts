// One `dopq run` per spool. The lock is the folder `<lockFile>.lock`, holding one file
// `owner.<token>` ("pid host start-time"). It is born whole: a temp folder with the owner file
// already inside is renamed into place, which succeeds only onto nothing or an empty folder.
// A dead holder's lock is broken by unlinking its owner file by that exact name: only one
// contender can succeed, and a lock taken meanwhile by someone else has another name, so nobody
// ever removes a lock they did not judge dead. `state/daemon.pid` stays the public record that
// `dopq q` reads.
import { hostname } from 'node:os';
import { lstat, mkdir, readdir, readFile, rename, rm, rmdir, unlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LockBusyError } from '../../core/errors.js';
import { writeFileAtomic } from '../files/atomic-write.js';
import { randomHex } from '../files/random-hex.js';

/** An ownerless lock younger than this may be a takeover in flight; an older one is debris. */
export const STALE_MS = 15_000;
const HEARTBEAT_MS = 3_000;
const ATTEMPTS = 4;

export interface DaemonLock {
  release(): Promise<void>;
}

export interface LockOwner {
  pid: number;
  host: string;
  /** Process start time (Linux clock ticks since boot): tells a reused pid from the holder. */
  start?: string;
}

/** What a contender found at the lock path. */
export type LockSeen =
  | { kind: 'absent' }
  | { kind: 'ownerless'; empty: boolean; ageMs: number }
  | { kind: 'owned'; file: string; owner: LockOwner | undefined; alive: boolean; ageMs: number };

export type LockVerdict = { action: 'install' } | { action: 'break'; file: string } | { action: 'busy'; reason: string; hint?: string };

const ACTIVE = 'another dopq run is active on this spool';

// Pure: what a contender does about what it found. A live local holder always wins.
export function judgeLock(seen: LockSeen, host: string, staleMs = STALE_MS): LockVerdict {
  if (seen.kind === 'absent') return { action: 'install' };
  const stale = seen.ageMs > staleMs;
  if (seen.kind === 'ownerless') {
    if (!stale) return { action: 'busy', reason: 'another dopq run is taking the spool at this moment' };
    return seen.empty ? { action: 'install' } : { action: 'busy', reason: 'the lock folder holds unknown files', hint: 'check that no dopq run is active, then remove it' };
  }
  const { owner } = seen;
  if (!owner) return stale ? { action: 'break', file: seen.file } : { action: 'busy', reason: 'another dopq run is taking the spool at this moment' };
  if (owner.host !== host) return stale ? { action: 'break', file: seen.file } : { action: 'busy', reason: `${ACTIVE} (pid ${owner.pid} on host ${owner.host})` };
  if (seen.alive) return { action: 'busy', reason: `${ACTIVE} (pid ${owner.pid})`, hint: 'stop it first (SIGTERM), or use `dopq q` to see its state' };
  return { action: 'break', file: seen.file };
}

export function parseOwner(text: string): LockOwner | undefined {
  const [pid, host, start] = text.trim().split(/\s+/);
  if (!pid || !/^\d+$/.test(pid) || !host) return undefined;
  return { pid: Number(pid), host, ...(start ? { start } : {}) };
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Field 22 of /proc/<pid>/stat, or undefined where there is no /proc. */
export async function processStart(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

async function ownerAlive(owner: LockOwner): Promise<boolean> {
  if (!isProcessAlive(owner.pid)) return false;
  const start = owner.start === undefined ? undefined : await processStart(owner.pid);
  return start === undefined || start === owner.start;
}

export async function readDaemonPid(pidFile: string): Promise<{ pid: number; host: string } | undefined> {
  try {
    const [pid, host = ''] = (await readFile(pidFile, 'utf8')).trim().split(/\s+/);
    return pid && /^\d+$/.test(pid) ? { pid: Number(pid), host } : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the daemon recorded in `pidFile` runs now (on this host). */
export async function daemonAlive(pidFile: string): Promise<boolean> {
  const entry = await readDaemonPid(pidFile);
  return entry !== undefined && (entry.host === '' || entry.host === hostname()) && isProcessAlive(entry.pid) && entry.pid !== process.pid;
}

async function observeLock(lockDir: string): Promise<LockSeen> {
  try {
    const [info, names] = await Promise.all([lstat(lockDir), readdir(lockDir)]);
    const owners = names.filter((name) => name.startsWith('owner.'));
    const ownerOnly = owners.length === 1 && names.length === 1;
    if (!ownerOnly) return { kind: 'ownerless', empty: names.length === 0, ageMs: Date.now() - info.mtimeMs };
    const file = path.join(lockDir, owners[0]!);
    const [text, fileInfo] = await Promise.all([readFile(file, 'utf8'), lstat(file)]);
    const owner = parseOwner(text);
    return { kind: 'owned', file, owner, alive: owner !== undefined && (await ownerAlive(owner)), ageMs: Date.now() - fileInfo.mtimeMs };
  } catch (error) {
    // Gone between two looks (released, or replaced): look again.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    throw error;
  }
}

/** Rename the prepared folder onto the lock; false when a lock with an owner is there. */
async function install(temp: string, lockDir: string): Promise<boolean> {
  try {
    await rename(temp, lockDir);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return false;
    throw error;
  }
}

async function takeLock(lockDir: string, temp: string): Promise<void> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
    const seen = await observeLock(lockDir);
    const verdict = judgeLock(seen, hostname());
    if (verdict.action === 'busy') {
      // An empty lock is a takeover in flight (microseconds): look again to name the winner.
      if (seen.kind === 'ownerless' && seen.empty && attempt < ATTEMPTS - 1) {
        await sleep(20);
        continue;
      }
      throw new LockBusyError(lockDir, verdict.reason, verdict.hint ? { hint: verdict.hint } : undefined);
    }
    if (verdict.action === 'break') {
      // The one exclusive step: whoever unlinks this exact name breaks this lock, nobody else.
      const broke = await unlink(verdict.file).then(() => true, (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return false;
        throw error;
      });
      if (!broke) continue;
    }
    if (await install(temp, lockDir)) return;
  }
  throw new LockBusyError(lockDir, 'another dopq run took the spool at the same moment');
}

export async function acquireDaemonLock(lockFile: string, pidFile: string, onCompromised: (error: Error) => void): Promise<DaemonLock> {
  const lockDir = `${lockFile}.lock`;
  const token = await randomHex(8);
  const temp = path.join(path.dirname(lockDir), `.${path.basename(lockDir)}.${token}`);
  const ownerFile = path.join(lockDir, `owner.${token}`);
  await mkdir(temp, { mode: 0o755 });
  try {
    await writeFile(path.join(temp, `owner.${token}`), `${process.pid} ${hostname()} ${(await processStart(process.pid)) ?? ''}`.trim() + '\n', { mode: 0o644 });
    await takeLock(lockDir, temp);
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
  const heartbeat = startHeartbeat(ownerFile, lockDir, onCompromised);
  const letGo = async () => {
    await unlink(ownerFile).catch(() => undefined);
    // Empty unless the next holder has already moved in (then rmdir fails, as it should).
    await rmdir(lockDir).catch(() => undefined);
  };
  try {
    await writeFileAtomic(pidFile, `${process.pid} ${hostname()}\n`, { mode: 0o644 });
  } catch (error) {
    heartbeat.stop();
    await letGo();
    throw error;
  }
  return {
    async release() {
      // A lock taken away is not ours to clean up, nor is the pid file its new holder wrote.
      if (!heartbeat.stop() || !(await lstat(ownerFile).then(() => true, () => false))) return;
      // The pid file first: once the owner file goes, the next holder writes its own.
      await rm(pidFile, { force: true });
      await letGo();
    },
  };
}

// Keeps the owner file's mtime fresh (what a holder on another host is judged by) and notices
// a lock taken away. stop() says whether the lock was still ours.
function startHeartbeat(ownerFile: string, lockDir: string, onCompromised: (error: Error) => void): { stop(): boolean } {
  let lost = false;
  let stopped = false;
  let lastOk = Date.now();
  const timer = setInterval(() => {
    const now = new Date();
    utimes(ownerFile, now, now).then(
      () => (lastOk = Date.now()),
      (error: NodeJS.ErrnoException) => {
        if (lost || stopped || (error.code !== 'ENOENT' && Date.now() - lastOk < STALE_MS)) return;
        lost = true;
        clearInterval(timer);
        onCompromised(Object.assign(new Error(`the lock ${lockDir} was taken over or removed (${error.code})`), { code: 'ECOMPROMISED' }));
      },
    );
  }, HEARTBEAT_MS);
  timer.unref();
  return {
    stop() {
      stopped = true; // a touch still in flight must not report our own release
      clearInterval(timer);
      return !lost;
    },
  };
}
