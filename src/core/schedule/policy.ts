// The scheduling policies a config can name, and the per-user numbers they order users by.

export const POLICIES = ['fairshare', 'fifo', 'dopq-classic'] as const;
export type PolicyName = (typeof POLICIES)[number];

/**
 * A user's share: their own entry, else the largest entry of one of their groups (`%name`), else
 * 1. The largest, not the sum, so that joining more groups does not buy a bigger share.
 */
export function shareOf(user: string, groups: readonly string[], shares: Readonly<Record<string, number>>): number {
  const own = shares[user];
  if (own !== undefined) return own;
  let best: number | undefined;
  for (const group of groups) {
    const value = shares[`%${group}`];
    if (value !== undefined && (best === undefined || value > best)) best = value;
  }
  return best ?? 1;
}

/**
 * DoPQ's penalty, exactly: the sum of e^-i over the positions i (0 = newest) where the user owns
 * one of the last `maxHistory` finished jobs. GPUs, runtime and running jobs do not count.
 */
export function classicPenalties(history: readonly string[], maxHistory: number): Map<string, number> {
  const result = new Map<string, number>();
  const n = Math.min(history.length, maxHistory);
  for (let i = 0; i < n; i++) {
    const user = history[i]!;
    result.set(user, (result.get(user) ?? 0) + Math.exp(-i));
  }
  return result;
}

/** Fair-share penalty in GPU-seconds per unit of share: decayed usage plus held GPUs at their weight. */
export function fairsharePenalty(usage: number, heldGpus: number, runningWeight: number, share: number): number {
  return (usage + heldGpus * runningWeight) / share;
}
