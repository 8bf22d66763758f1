// `after:` and `after_any:`: whether a queued job's dependencies let it start, hold it, or end it.
// An array's id names all of its tasks. A job no longer in the state ended long ago (only finished
// records age out), and any failure of it cancelled its dependants then: it counts as satisfied.
import { isFinished, type JobRecord, type JobState } from './job.js';

export type DependencyStatus = { kind: 'ready' } | { kind: 'waiting' } | { kind: 'failed'; on: number; state: JobState };

type DependencyFields = Pick<JobRecord, 'id' | 'state' | 'array' | 'after' | 'after_any'>;

/** The jobs an id in `after:` stands for: the job, or every task when it is an array's id. */
export class DependencyIndex<T extends DependencyFields> {
  private readonly byId = new Map<number, T>();
  private readonly tasks = new Map<number, T[]>();

  constructor(jobs: readonly T[]) {
    for (const job of jobs) {
      this.byId.set(job.id, job);
      if (job.array) {
        const list = this.tasks.get(job.array.id);
        if (list) list.push(job);
        else this.tasks.set(job.array.id, [job]);
      }
    }
  }

  targets(id: number): readonly T[] {
    const job = this.byId.get(id);
    if (job?.array?.id === id) return this.tasks.get(id) ?? [job];
    return job ? [job] : [];
  }

  has(id: number): boolean {
    return this.byId.has(id);
  }

  status(job: DependencyFields): DependencyStatus {
    let waiting = false;
    for (const id of job.after ?? []) {
      for (const target of this.targets(id)) {
        if (target.state === 'done') continue;
        if (isFinished(target)) return { kind: 'failed', on: target.id, state: target.state };
        waiting = true;
      }
    }
    for (const id of job.after_any ?? []) for (const target of this.targets(id)) if (!isFinished(target)) waiting = true;
    return waiting ? { kind: 'waiting' } : { kind: 'ready' };
  }
}

/** Queued jobs held back by their dependencies, and those a failed dependency ends. */
export function dependencyHolds<T extends DependencyFields>(
  jobs: readonly T[],
): { waiting: Set<number>; failed: Map<number, DependencyStatus & { kind: 'failed' }> } {
  const waiting = new Set<number>();
  const failed = new Map<number, DependencyStatus & { kind: 'failed' }>();
  if (!jobs.some((job) => (job.after?.length ?? 0) + (job.after_any?.length ?? 0) > 0)) return { waiting, failed };
  const index = new DependencyIndex(jobs);
  for (const job of jobs) {
    if (job.state !== 'queued' || (job.after?.length ?? 0) + (job.after_any?.length ?? 0) === 0) continue;
    const status = index.status(job);
    if (status.kind === 'waiting') waiting.add(job.id);
    else if (status.kind === 'failed') failed.set(job.id, status);
  }
  return { waiting, failed };
}
