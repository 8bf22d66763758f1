// The one scheduler: (queue, GPUs, running jobs, usage, now) -> which jobs start now and on
// which GPUs. Pure and deterministic; the daemon, `dopq q` and `dopq sim` all call it unchanged.
//
// EASY backfill: jobs are taken in the policy's order; the first one that does not fit gets a
// reservation at the earliest time enough GPUs come back (running jobs end by their time limits
// at the latest). A later job may start now only if it ends before that time or keeps off the
// reserved GPUs, so a multi-GPU job is never starved by a stream of small ones.
// dopq-classic keeps DoPQ's rule instead: nothing passes the first job that does not fit.
import { queueOrder, type OrderInput, type QueuedJob } from './queue-order.js';

export interface RunningJob {
  id: number;
  user: string;
  gpus: readonly string[];
  /** Latest end (ms): start plus time limit. */
  ends_at: number;
}

export interface SchedulerInput extends Omit<OrderInput, 'held'> {
  now: number;
  /** GPUs free now, in hand-out order. */
  free: readonly string[];
  /** Our jobs that hold GPUs. */
  running: readonly RunningJob[];
  /** GPUs running jobs hold that left the inventory (a config reload removed them): never free again. */
  retired?: readonly string[];
  /** Most GPUs one user may hold at once (null: no cap). */
  max_gpus_per_user: number | null;
  /** `dopq pause`: nothing starts. */
  paused: boolean;
  /** Per array with a `%N` cap, when each of its running tasks ends at the latest (ms). */
  array_running?: ReadonlyMap<number, readonly number[]>;
}

export interface Placement {
  id: number;
  gpus: string[];
}

export interface Reservation {
  id: number;
  /** When the reserved GPUs are all free at the latest (ms). */
  at: number;
  gpus: string[];
}

export interface Decisions {
  starts: Placement[];
  reservation: Reservation | null;
}

/** Why a queued job cannot start now whatever else happens. */
export type Blocker = 'too-big' | 'user-cap' | 'array-limit';

export function heldByUser(running: readonly { user: string; gpus: readonly unknown[] }[]): Map<string, number> {
  const held = new Map<string, number>();
  for (const job of running) held.set(job.user, (held.get(job.user) ?? 0) + job.gpus.length);
  return held;
}

export function usableGpus(input: Pick<SchedulerInput, 'free' | 'running' | 'retired'>): number {
  const retired = new Set(input.retired);
  return input.running.reduce((sum, job) => sum + job.gpus.filter((gpu) => !retired.has(gpu)).length, input.free.length);
}

export function blockerOf(job: QueuedJob, usable: number, held: ReadonlyMap<string, number>, cap: number | null): Blocker | null {
  if (job.gpus > usable) return 'too-big';
  if (cap !== null && (held.get(job.user) ?? 0) + job.gpus > cap) return 'user-cap';
  return null;
}

export function decide(input: SchedulerInput): Decisions {
  if (input.paused) return { starts: [], reservation: null };
  const strict = input.policy === 'dopq-classic';
  const free = [...input.free];
  const usable = usableGpus(input);
  const held = heldByUser(input.running);
  const heldNow = new Map(held); // grows as this pass starts jobs (for the per-user cap)
  const busy: RunningJob[] = [...input.running];
  const starts: Placement[] = [];
  let reservation: Reservation | null = null;
  let reserved = new Set<string>();

  // Tasks of each capped array running now; grows as this pass starts them.
  const arrayRunning = new Map([...(input.array_running ?? new Map<number, readonly number[]>())].map(([id, ends]) => [id, ends.length]));
  const start = (job: QueuedJob, gpus: string[]) => {
    starts.push({ id: job.id, gpus });
    busy.push({ id: job.id, user: job.user, gpus, ends_at: input.now + job.time_limit * 1000 });
    heldNow.set(job.user, (heldNow.get(job.user) ?? 0) + job.gpus);
    if (job.array) arrayRunning.set(job.array.id, (arrayRunning.get(job.array.id) ?? 0) + 1);
  };

  // Jobs without GPUs do not compete for them: they start whatever the GPUs do.
  let cpuOnly = 0;
  for (const jobs of input.queues.values()) for (const job of jobs) if (job.gpus === 0) cpuOnly += 1;

  for (const job of queueOrder({ ...input, held })) {
    // A task over its array's cap waits without taking a reservation: its turn comes as a sibling ends.
    if (job.array && (arrayRunning.get(job.array.id) ?? 0) >= job.array.throttle) {
      if (job.gpus === 0) cpuOnly -= 1;
      continue;
    }
    if (job.gpus === 0) {
      start(job, []);
      cpuOnly -= 1;
      continue;
    }
    if (free.length === 0) {
      if (cpuOnly === 0) break;
      continue;
    }
    if (blockerOf(job, usable, heldNow, input.max_gpus_per_user) !== null) continue;
    if (reservation === null) {
      if (job.gpus <= free.length) {
        start(job, take(free, job.gpus, reserved));
        continue;
      }
      reservation = reserve(job, free, busy, input.now, new Set(input.retired));
      reserved = new Set(reservation.gpus);
      if (strict) break;
      continue;
    }
    if (job.gpus > free.length) continue;
    if (input.now + job.time_limit * 1000 <= reservation.at) {
      // Ends before the reservation: any free GPU will do; use reserved ones first, to keep the
      // others for jobs that run past it.
      start(job, take(free, job.gpus, reserved));
    } else if (free.filter((gpu) => !reserved.has(gpu)).length >= job.gpus) {
      start(job, take(free, job.gpus, reserved, true));
    }
  }
  return { starts, reservation };
}

/**
 * The earliest time `job` can have its GPUs, given who holds them until when, and which GPUs:
 * ones that running jobs give back first, so the GPUs free now stay open for backfill.
 */
export function reserve(
  job: QueuedJob,
  free: readonly string[],
  busy: readonly RunningJob[],
  now: number,
  retired: ReadonlySet<string> = new Set(),
): Reservation {
  const released: string[] = [];
  let at = now;
  for (const running of [...busy].sort((a, b) => a.ends_at - b.ends_at || a.id - b.id)) {
    if (free.length + released.length >= job.gpus) break;
    released.push(...running.gpus.filter((gpu) => !retired.has(gpu)));
    at = Math.max(at, running.ends_at);
  }
  const fromReleased = released.slice(0, job.gpus);
  const fromFree = free.slice(free.length - (job.gpus - fromReleased.length));
  return { id: job.id, at, gpus: [...fromReleased, ...fromFree] };
}

/** Take `n` GPUs out of `free`: reserved ones first (or never, with `avoidReserved`), in list order. */
function take(free: string[], n: number, reserved: ReadonlySet<string>, avoidReserved = false): string[] {
  const picked: string[] = [];
  if (!avoidReserved) for (const gpu of free) if (picked.length < n && reserved.has(gpu)) picked.push(gpu);
  for (const gpu of free) if (picked.length < n && !reserved.has(gpu)) picked.push(gpu);
  const chosen = new Set(picked);
  for (let i = free.length - 1; i >= 0; i--) if (chosen.has(free[i]!)) free.splice(i, 1);
  return picked;
}
