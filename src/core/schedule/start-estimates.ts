// When each queued job should start, if every running job used its whole time limit and nothing
// new arrived: the scheduler's decisions now, then the rest of the queue laid out in order on the
// GPUs as they come back. The first job that does not fit gets exactly its reservation time.
import { queueOrder, type QueuedJob } from './queue-order.js';
import { blockerOf, decide, heldByUser, usableGpus, type Blocker, type Decisions, type SchedulerInput } from './scheduler.js';

export interface QueuePlan {
  decisions: Decisions;
  /** Every queued job, best first. */
  order: QueuedJob[];
  /** ms, or null when it cannot be known (paused, or more GPUs than can ever be free). */
  estimates: Map<number, number | null>;
  /** Jobs that cannot start now whatever else frees up. */
  blocked: Map<number, Blocker>;
}

interface Slot {
  t: number;
  gpu: string;
}

export function planQueue(input: SchedulerInput): QueuePlan {
  const decisions = decide(input);
  const held = heldByUser(input.running);
  const order = [...queueOrder({ ...input, held })];
  const estimates = new Map<number, number | null>();
  const blocked = new Map<number, Blocker>();
  const usable = usableGpus(input);
  const started = new Map(decisions.starts.map((placement) => [placement.id, placement]));
  const cap = input.max_gpus_per_user;

  // Per GPU, from when it is free in the plan, kept sorted by time.
  const startedGpus = new Set(decisions.starts.flatMap((placement) => placement.gpus));
  const slots: Slot[] = input.free.filter((gpu) => !startedGpus.has(gpu)).map((gpu) => ({ t: input.now, gpu }));
  const userEnds = new Map<string, { end: number; gpus: number }[]>();
  const addEnd = (user: string, end: number, gpus: number) => {
    const list = userEnds.get(user);
    if (list) list.push({ end, gpus });
    else userEnds.set(user, [{ end, gpus }]);
  };
  const retired = new Set(input.retired);
  for (const job of input.running) {
    for (const gpu of job.gpus) if (!retired.has(gpu)) slots.push({ t: job.ends_at, gpu });
    addEnd(job.user, job.ends_at, job.gpus.length);
  }
  // Per capped array, its N run slots, each the time it is free from (sorted): a task over the
  // cap takes the first to come free, and holds it until the task ends.
  const arraySlots = new Map<number, number[]>();
  const slotsOf = (job: QueuedJob): number[] | undefined => {
    if (!job.array) return undefined;
    let list = arraySlots.get(job.array.id);
    if (!list) {
      const ends = [...(input.array_running?.get(job.array.id) ?? [])].sort((a, b) => a - b);
      list = [...Array.from({ length: Math.max(0, job.array.throttle - ends.length) }, () => input.now), ...ends];
      arraySlots.set(job.array.id, list);
    }
    return list;
  };
  const addArrayEnd = (job: QueuedJob, end: number) => {
    const list = slotsOf(job);
    if (!list || list.length === 0) return;
    list.shift();
    insertSortedTime(list, end);
  };
  for (const job of order) {
    const placement = started.get(job.id);
    if (!placement) continue;
    const end = input.now + job.time_limit * 1000;
    for (const gpu of placement.gpus) slots.push({ t: end, gpu });
    addEnd(job.user, end, job.gpus);
    addArrayEnd(job, end);
    estimates.set(job.id, input.now);
  }
  slots.sort((a, b) => a.t - b.t);
  // Tasks of each capped array running once this pass's starts are made: at the cap, a task waits for array-limit.
  const busyNow = new Map([...(input.array_running ?? new Map<number, readonly number[]>())].map(([id, ends]) => [id, ends.length]));
  for (const job of order) if (job.array && started.has(job.id)) busyNow.set(job.array.id, (busyNow.get(job.array.id) ?? 0) + 1);

  const heldAfter = new Map(held);
  for (const job of order) if (started.has(job.id)) heldAfter.set(job.user, (heldAfter.get(job.user) ?? 0) + job.gpus);
  let floor = input.now; // dopq-classic: nothing passes the job before it
  for (const job of order) {
    if (started.has(job.id)) continue;
    const blocker = blockerOf(job, usable, heldAfter, cap);
    if (blocker) blocked.set(job.id, blocker);
    else if (job.array && (busyNow.get(job.array.id) ?? 0) >= job.array.throttle) blocked.set(job.id, 'array-limit');
    if (input.paused || job.gpus > usable || (cap !== null && job.gpus > cap)) {
      estimates.set(job.id, null);
      continue;
    }
    let t = Math.max(input.now, job.gpus === 0 ? input.now : slots[job.gpus - 1]!.t);
    if (cap !== null) t = Math.max(t, capFreeAt(userEnds.get(job.user) ?? [], job.gpus, cap, input.now));
    t = Math.max(t, slotsOf(job)?.[0] ?? t);
    if (input.policy === 'dopq-classic') t = floor = Math.max(t, floor);
    const end = t + job.time_limit * 1000;
    const taken = slots.splice(0, job.gpus);
    for (const slot of taken) insertSorted(slots, { t: end, gpu: slot.gpu });
    addEnd(job.user, end, job.gpus);
    addArrayEnd(job, end);
    estimates.set(job.id, t);
  }
  return { decisions, order, estimates, blocked };
}

/** Earliest time the user's jobs (running or planned) leave room for `gpus` more under the cap. */
function capFreeAt(ends: readonly { end: number; gpus: number }[], gpus: number, cap: number, now: number): number {
  let holding = ends.reduce((sum, e) => sum + e.gpus, 0);
  let t = now;
  for (const e of [...ends].sort((a, b) => a.end - b.end)) {
    if (holding + gpus <= cap) return t;
    holding -= e.gpus;
    t = Math.max(t, e.end);
  }
  return t;
}

function insertSorted(slots: Slot[], slot: Slot): void {
  let lo = 0;
  let hi = slots.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (slots[mid]!.t <= slot.t) lo = mid + 1;
    else hi = mid;
  }
  slots.splice(lo, 0, slot);
}

function insertSortedTime(times: number[], t: number): void {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid]! <= t) lo = mid + 1;
    else hi = mid;
  }
  times.splice(lo, 0, t);
}
