// `backend: slurm`: which queued jobs go to Slurm now, and with which `--dependency`. dopq never
// orders them: every job that may run is handed over at once and Slurm's priorities decide.
import { DependencyIndex } from '../job/dependencies.js';
import { isFinished, type JobRecord } from '../job/job.js';
import type { StateFile } from '../state.js';

export interface Submission {
  id: number;
  /** sbatch's `--dependency` value (`afterok:12:14,afterany:15`), or null for none. */
  dependency: string | null;
}

/**
 * Queued jobs not held, not paused, with their image, not handed over yet; a job that runs after
 * others goes once each of them is in Slurm (its id is then known) or over. One after a job that
 * ended other than done is left to the daemon, which cancels it.
 */
export function submissionsDue(state: Pick<StateFile, 'jobs' | 'paused'>): Submission[] {
  if (state.paused) return [];
  const index = new DependencyIndex(state.jobs);
  const due: Submission[] = [];
  for (const job of state.jobs) {
    if (job.state !== 'queued' || job.held_by || job.needs_image !== undefined || job.interactive) continue;
    if (job.slurm_job_id !== undefined || job.slurm_submit_at !== undefined) continue;
    const dependency = dependencyOf(job, index);
    if (dependency !== undefined) due.push({ id: job.id, dependency });
  }
  return due;
}

/** The `--dependency` for `job`: null for none, undefined while a job it runs after is not in Slurm yet (or failed). */
function dependencyOf(job: JobRecord, index: DependencyIndex<JobRecord>): string | null | undefined {
  const okay = new Set<number>();
  const any = new Set<number>();
  for (const id of job.after ?? []) {
    for (const target of index.targets(id)) {
      if (target.state === 'done') continue;
      if (isFinished(target) || target.slurm_job_id === undefined) return undefined;
      okay.add(target.slurm_job_id);
    }
  }
  for (const id of job.after_any ?? []) {
    for (const target of index.targets(id)) {
      if (isFinished(target)) continue;
      if (target.slurm_job_id === undefined) return undefined;
      any.add(target.slurm_job_id);
    }
  }
  const parts = [
    ...(okay.size > 0 ? [`afterok:${[...okay].sort((a, b) => a - b).join(':')}`] : []),
    ...(any.size > 0 ? [`afterany:${[...any].sort((a, b) => a - b).join(':')}`] : []),
  ];
  return parts.length > 0 ? parts.join(',') : null;
}
