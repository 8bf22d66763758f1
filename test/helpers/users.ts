// Real Unix users for ownership and permission tests (the suite runs as root).
import { execFileSync } from 'node:child_process';

export interface UnixUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function lookup(name: string): UnixUser | undefined {
  try {
    const [, , uid, gid, , home] = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim().split(':');
    return { name, uid: Number(uid), gid: Number(gid), home: home ?? '/' };
  } catch {
    return undefined;
  }
}

/** The user `name`, created if missing. Safe when several test files ask at once. */
export function ensureUser(name: string): UnixUser {
  const existing = lookup(name);
  if (existing) return existing;
  try {
    execFileSync('useradd', ['--create-home', '--shell', '/bin/sh', '--user-group', name], { stdio: 'pipe' });
  } catch (error) {
    // Another test file created it at the same moment (useradd locks /etc/passwd), or it failed.
    const again = lookup(name);
    if (again) return again;
    for (let i = 0; i < 20 && !lookup(name); i++) execFileSync('sleep', ['0.1']);
    const last = lookup(name);
    if (last) return last;
    throw error;
  }
  return lookup(name)!;
}

export const alice = () => ensureUser('dopq-alice');
export const bob = () => ensureUser('dopq-bob');
