// Who may act on a job: its owner, or an admin (root, or a user or %group in the config).

export interface Caller {
  uid: number;
  user: string;
  /** Names of the caller's groups, primary and supplementary. */
  groups: readonly string[];
}

export function isAdmin(caller: Caller, admins: readonly string[]): boolean {
  if (caller.uid === 0) return true;
  return admins.some((entry) => (entry.startsWith('%') ? caller.groups.includes(entry.slice(1)) : entry === caller.user));
}

export function canControl(job: { uid: number }, caller: Caller, admins: readonly string[]): boolean {
  return job.uid === caller.uid || isAdmin(caller, admins);
}
