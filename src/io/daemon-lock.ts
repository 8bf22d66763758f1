// One `dopq run` per spool. A proper-lockfile lock plus a pid file: the pid lets a new daemon
// recover at once from one that was SIGKILLed (its lock would otherwise look fresh for `stale` ms)
// and lets `dopq q` tell whether a daemon is alive.
import { hostname } from 'node:os';
import { open, readFile, rm } from 'node:fs/promises';
import lockfile from 'proper-lockfile';
import { LockBusyError } from '../core/errors.js';
import { writeFileAtomic } from './atomic-write.js';

export interface DaemonLock {
  release(): Promise<void>;
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
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

export async function acquireDaemonLock(lockFile: string, pidFile: string, onCompromised: (error: Error) => void): Promise<DaemonLock> {
  const handle = await open(lockFile, 'a', 0o644);
  await handle.close();
  const options = { stale: 15_000, update: 3_000, realpath: false, retries: 0, onCompromised };
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(lockFile, options);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error;
    const holder = await readDaemonPid(pidFile);
    if (holder && holder.host === hostname() && isProcessAlive(holder.pid)) {
      throw new LockBusyError(lockFile, `another dopq run is active on this spool (pid ${holder.pid})`, {
        hint: 'stop it first (SIGTERM), or use `dopq q` to see its state',
      });
    }
    // The holder died without unlocking (SIGKILL, power loss): take the lock over now.
    await rm(`${lockFile}.lock`, { recursive: true, force: true });
    try {
      release = await lockfile.lock(lockFile, options);
    } catch (retryError) {
      if ((retryError as NodeJS.ErrnoException).code === 'ELOCKED') {
        throw new LockBusyError(lockFile, 'another dopq run took the spool at the same moment');
      }
      throw retryError;
    }
  }
  await writeFileAtomic(pidFile, `${process.pid} ${hostname()}\n`, { mode: 0o644 });
  return {
    async release() {
      await rm(pidFile, { force: true });
      await release();
    },
  };
}
