// Which unfinished jobs belong to the other backend than the daemon's: pure.
import test from 'ava';
import { jobsOfOtherBackend } from '../../src/core/job/backend-switch.js';
import type { JobRecord } from '../../src/core/job/job.js';

const base: JobRecord = {
  id: 0,
  user: 'alice',
  uid: 1000,
  name: 'train',
  image: 'busybox',
  gpus_requested: 1,
  gpus: [],
  state: 'queued',
  submitted_at: 0,
  time_limit: 600,
};
const job = (id: number, extra: Partial<JobRecord>): JobRecord => ({ ...base, id, ...extra });

test('to slurm: jobs the single host runs or builds are in the way; queued and finished ones are not', (t) => {
  const jobs = [
    job(1, { state: 'running', container_id: 'c1', gpus: ['0'] }),
    job(2, { state: 'building' }),
    job(3, { state: 'queued' }),
    job(4, { state: 'done' }),
    job(5, { state: 'running', slurm_job_id: 17 }),
  ];
  t.deepEqual(jobsOfOtherBackend(jobs, 'slurm'), [1, 2]);
});

test('to docker: jobs handed to Slurm (or about to be) are in the way, running or pending there; ended ones are not', (t) => {
  const jobs = [
    job(1, { state: 'queued', slurm_job_id: 17 }),
    job(2, { state: 'queued', slurm_submit_at: 5 }),
    job(3, { state: 'running', slurm_job_id: 18 }),
    job(4, { state: 'failed', slurm_job_id: 19 }),
    job(5, { state: 'queued' }),
    job(6, { state: 'running', container_id: 'c6' }),
  ];
  t.deepEqual(jobsOfOtherBackend(jobs, 'docker'), [1, 2, 3]);
});
