// The order in which queued jobs are considered, for each policy. One user's jobs always keep
// their own order (`dopq top` changes only that), so no user can move ahead of another by it.
import { Heap } from 'heap-js';
import { classicPenalties, fairsharePenalty, type PolicyName } from './policy.js';

export interface QueuedJob {
  id: number;
  user: string;
  gpus: number;
  submitted_at: number; // ms
  /** Seconds; the job is stopped after it, so it bounds when its GPUs come back. */
  time_limit: number;
  /** Set by `dopq top`: the latest topped job goes first among its owner's jobs. */
  top_at?: number;
  /** A task of an array with a `%N` cap: its array's id and N. */
  array?: { id: number; throttle: number };
}

export interface OrderInput {
  policy: PolicyName;
  /** Per user, that user's queued jobs in their own order (see userOrder). */
  queues: ReadonlyMap<string, readonly QueuedJob[]>;
  /** fairshare: decayed GPU-seconds per user, now. */
  usage: ReadonlyMap<string, number>;
  /** fairshare: GPUs each user holds now. */
  held: ReadonlyMap<string, number>;
  /** Shares; a user who is absent has share 1. */
  shares: ReadonlyMap<string, number>;
  /** fairshare: GPU-seconds a held GPU counts at once. */
  running_weight: number;
  /** dopq-classic: owners of finished jobs, newest first. */
  history: readonly string[];
  classic_history: number;
}

/** A user's own order: topped jobs first (latest top first), then by submission. */
export function userOrder<T extends QueuedJob>(jobs: readonly T[]): T[] {
  return [...jobs].sort(
    (a, b) =>
      (a.top_at === undefined ? 1 : 0) - (b.top_at === undefined ? 1 : 0) ||
      (b.top_at ?? 0) - (a.top_at ?? 0) ||
      a.submitted_at - b.submitted_at ||
      a.id - b.id,
  );
}

/** Queued jobs grouped by owner, each group in its owner's order. */
export function groupQueues<T extends QueuedJob>(jobs: readonly T[]): Map<string, T[]> {
  const byUser = new Map<string, T[]>();
  for (const job of jobs) {
    const list = byUser.get(job.user);
    if (list) list.push(job);
    else byUser.set(job.user, [job]);
  }
  for (const [user, list] of byUser) byUser.set(user, userOrder(list));
  return byUser;
}

interface Cursor {
  user: string;
  jobs: readonly QueuedJob[];
  /** The submission times (and ids) of the user's jobs in ascending order: the places they hold. */
  slots: readonly { submitted_at: number; id: number }[];
  next: number;
  key: number;
  charged: number;
}

/**
 * Every queued job once, best first, lazily (a pass that runs out of GPUs stops early).
 * - fifo: by submission time.
 * - dopq-classic: by DoPQ's history penalty, then submission time.
 * - fairshare: users interleave by (usage + held GPUs x running_weight) / share, and each job
 *   taken charges its GPUs to its owner at once, so one user's many jobs cannot take every GPU
 *   while a user with the same share waits.
 * Ties go to the earlier submission, then the lower id.
 */
export function* queueOrder(input: OrderInput): Generator<QueuedJob, void, undefined> {
  const classic = input.policy === 'dopq-classic' ? classicPenalties(input.history, input.classic_history) : undefined;
  const keyOf = (cursor: Cursor): number => {
    if (input.policy === 'fifo') return 0;
    if (classic) return classic.get(cursor.user) ?? 0;
    const held = (input.held.get(cursor.user) ?? 0) + cursor.charged;
    return fairsharePenalty(input.usage.get(cursor.user) ?? 0, held, input.running_weight, input.shares.get(cursor.user) ?? 1);
  };
  const heap = new Heap<Cursor>((a, b) => {
    const sa = a.slots[a.next]!;
    const sb = b.slots[b.next]!;
    return a.key - b.key || sa.submitted_at - sb.submitted_at || sa.id - sb.id;
  });
  const cursors: Cursor[] = [];
  for (const [user, jobs] of input.queues) {
    if (jobs.length === 0) continue;
    const cursor: Cursor = { user, jobs, slots: slotsOf(jobs), next: 0, key: 0, charged: 0 };
    cursor.key = keyOf(cursor);
    cursors.push(cursor);
  }
  heap.init(cursors);
  while (heap.length > 0) {
    const cursor = heap.pop()!;
    const job = cursor.jobs[cursor.next]!;
    cursor.next += 1;
    cursor.charged += job.gpus;
    if (cursor.next < cursor.jobs.length) {
      cursor.key = keyOf(cursor);
      heap.push(cursor);
    }
    yield job;
  }
}

/** Without topped jobs a user's order is submission order already; with them, sort the places. */
function slotsOf(jobs: readonly QueuedJob[]): readonly { submitted_at: number; id: number }[] {
  if (jobs[0]?.top_at === undefined) return jobs;
  return jobs.map((job) => ({ submitted_at: job.submitted_at, id: job.id })).sort((a, b) => a.submitted_at - b.submitted_at || a.id - b.id);
}
