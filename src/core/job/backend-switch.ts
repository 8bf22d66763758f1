// A daemon started with another `backend` than the one its unfinished jobs run under: the new one
// could neither follow nor stop them (a container the Slurm backend never looks at; a job Slurm
// runs that the single host would start again). Pure: which jobs those are, and what to say.
import type { Config } from '../config/config.js';
import { DopqError, ExitCode } from '../errors.js';
import type { JobRecord } from './job.js';

/** The unfinished jobs that belong to the other backend than `backend`. */
export function jobsOfOtherBackend(jobs: readonly JobRecord[], backend: Config['backend']): number[] {
  return jobs
    .filter((job) => {
      const inSlurm = job.slurm_job_id !== undefined || job.slurm_submit_at !== undefined;
      if (backend === 'slurm') return !inSlurm && (job.state === 'running' || job.state === 'building');
      return inSlurm && (job.state === 'queued' || job.state === 'running');
    })
    .map((job) => job.id);
}

/** The refusal to start: which jobs, and how to switch without losing them. */
export function backendSwitchError(ids: readonly number[], backend: Config['backend'], configFile: string): DopqError {
  const other = backend === 'slurm' ? 'docker' : 'slurm';
  const shown = ids.length > 10 ? `${ids.slice(0, 10).join(', ')} and ${ids.length - 10} more` : ids.join(', ');
  return new DopqError(
    'backend-switch',
    ExitCode.config,
    `backend: ${backend}, but job${ids.length === 1 ? '' : 's'} ${shown} still ${ids.length === 1 ? 'runs' : 'run'} under backend: ${other}`,
    configFile,
    {
      hint: `run the daemon with backend: ${other} until ${ids.length === 1 ? 'it ends' : 'they end'} (dopq q; dopq rm ends one sooner), then switch (dopq pause first keeps new ones from starting)`,
    },
  );
}
