// Which queued jobs start now, and on which GPUs. Pure: the same input gives the same decisions.
export interface QueuedJob {
  id: number;
  user: string;
  gpus: number;
  submitted_at: number;
}

export interface Placement {
  id: number;
  gpus: string[];
}

/** Start order: owner's penalty (lowest first), then submission time, then id. */
export function queueOrder<T extends QueuedJob>(queued: readonly T[], penalty: ReadonlyMap<string, number>): T[] {
  return [...queued].sort(
    (a, b) => (penalty.get(a.user) ?? 0) - (penalty.get(b.user) ?? 0) || a.submitted_at - b.submitted_at || a.id - b.id,
  );
}

/**
 * Greedy placement in queue order: each job that fits the GPUs still free takes the first ones.
 * A job that does not fit is skipped, so it never blocks smaller jobs behind it; since jobs are
 * visited in penalty order, a heavier user's job never starts while a lighter user's job that
 * fits is left waiting.
 */
export function placeJobs(queued: readonly QueuedJob[], freeGpus: readonly string[], penalty: ReadonlyMap<string, number>): Placement[] {
  const free = [...freeGpus];
  const placements: Placement[] = [];
  for (const job of queueOrder(queued, penalty)) {
    if (job.gpus > free.length) continue;
    placements.push({ id: job.id, gpus: free.splice(0, job.gpus) });
  }
  return placements;
}
