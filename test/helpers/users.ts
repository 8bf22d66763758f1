// Real Unix users for ownership and permission tests (the suite runs as root).
import { execFileSync, spawn } from 'node:child_process';

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

/** Run `command` as `user` (a real process with their uid and gid); resolves with its exit code and output. */
export function runAs(
  user: UnixUser,
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { uid: user.uid, gid: user.gid, cwd: options.cwd ?? '/', env: { HOME: user.home, ...options.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Run a shell script as `user`; resolves with its exit code and output. */
export function shellAs(user: UnixUser, script: string, cwd = '/'): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runAs(user, 'sh', ['-c', script], { cwd, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
}

/** The group `name`, created if missing, with `members` added; returns its gid. */
export function ensureGroup(name: string, members: UnixUser[]): number {
  try {
    execFileSync('groupadd', [name], { stdio: 'pipe' });
  } catch {
    // exists already (or created by a parallel test file)
  }
  for (const member of members) execFileSync('usermod', ['-aG', name, member.name], { stdio: 'pipe' });
  return Number(execFileSync('getent', ['group', name], { encoding: 'utf8' }).split(':')[2]);
}
