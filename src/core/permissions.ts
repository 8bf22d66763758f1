// Who may act on a job: its owner, or an admin (root, or a user or %group in the config).

// Written once: the CLI's arguments, the config's lists, sim traces and output folders all take
// a user name this way. Its first character is never a dot, so no name is `.` or `..`.
const USER_NAME_TEXT = String.raw`[A-Za-z0-9_][A-Za-z0-9_.-]*\$?`;
/** A Unix user name as useradd accepts it (a trailing $ for machine accounts). */
export const USER_NAME = new RegExp(`^${USER_NAME_TEXT}$`);
/** A user name, or %group, as the config lists them. */
export const PRINCIPAL = new RegExp(`^%?${USER_NAME_TEXT}$`);

export interface Caller {
  uid: number;
  user: string;
  /** Names of the caller's groups, primary and supplementary. */
  groups: readonly string[];
}

export function isAdmin(caller: Caller, admins: readonly string[]): boolean {
  return caller.uid === 0 || matches(caller, admins);
}

/** What a per-job command does to a job. */
export type JobAction = 'rm' | 'hold' | 'release' | 'top' | 'log' | 'attach';

/**
 * Who may act on a job, for every per-job command, in the CLI and in the daemon alike: its owner,
 * or an admin (root, or a user or %group in the config). Reading output is the exception: logs
 * are their owner's files (0600, they often hold secrets), so only the owner or root reads them;
 * so is a terminal (`attach`), whose socket is its owner's (0600).
 */
export function mayActOnJob(action: JobAction, job: { uid: number }, caller: Caller, admins: readonly string[]): boolean {
  if (job.uid === caller.uid || caller.uid === 0) return true;
  return action !== 'log' && action !== 'attach' && isAdmin(caller, admins);
}

function matches(caller: Caller, entries: readonly string[]): boolean {
  return entries.some((entry) => (entry.startsWith('%') ? caller.groups.includes(entry.slice(1)) : entry === caller.user));
}

/** DoPQ's "valid executors": with no `submitters` list everyone may submit; root and admins always may. */
export function maySubmit(caller: Caller, submitters: readonly string[] | null, admins: readonly string[]): boolean {
  return submitters === null || isAdmin(caller, admins) || matches(caller, submitters);
}
