// Which waiting builds may start now: `builds.parallel` in all, and at most
// `limits.per_user.builds` for one user, so one user's pile of builds cannot hold every slot
// while another user's single build waits behind them.

export interface BuildCandidate {
  id: number;
  uid: number;
}

export interface BuildSlotLimits {
  /** builds.parallel: builds (and loads) running at once, all users together. */
  parallel: number;
  /** limits.per_user.builds: builds running at once for one user. */
  perUser: number;
}

/**
 * The candidates to start, in `order` (the order jobs will start): each one whose user still
 * has a free slot, until the global slots are taken. `runningUids` holds one uid per build
 * already running.
 */
export function chooseBuilds(order: readonly BuildCandidate[], runningUids: readonly number[], limits: BuildSlotLimits): number[] {
  const perUser = new Map<number, number>();
  for (const uid of runningUids) perUser.set(uid, (perUser.get(uid) ?? 0) + 1);
  let free = limits.parallel - runningUids.length;
  const chosen: number[] = [];
  for (const candidate of order) {
    if (free <= 0) break;
    const held = perUser.get(candidate.uid) ?? 0;
    if (held >= limits.perUser) continue; // waits for one of its user's builds to end
    perUser.set(candidate.uid, held + 1);
    chosen.push(candidate.id);
    free -= 1;
  }
  return chosen;
}
