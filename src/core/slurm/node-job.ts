// What the node helper (`dopq node-run`) takes from the environment Slurm gives a batch job: the
// Slurm job id and the GPUs it was given. Pure; every value is checked before it names anything.
import { isFinished, type JobRecord, type JobSpec } from '../job/job.js';
import { slurmJobName, slurmResources } from './sbatch.js';
import type { SlurmJobFacts } from './show-job.js';

/** The Slurm side of one run of a job on a node. */
export interface SlurmAllocation {
  /** SLURM_JOB_ID: a whole number. */
  jobId: string;
  /** The node's GPUs Slurm gave the job, as nvidia indices (SLURM_JOB_GPUS), in order. */
  gpus: string[];
}

export type AllocationResult = { ok: true; allocation: SlurmAllocation } | { ok: false; problem: string };

const SLURM_ID = /^[1-9][0-9]{0,9}$/;
const GPU_LIST = /^[0-9]{1,3}(,[0-9]{1,3})*$/;

/**
 * The allocation from Slurm's variables. SLURM_JOB_GPUS holds the node's own GPU indices;
 * CUDA_VISIBLE_DEVICES is only the fallback (under device cgroups Slurm renumbers it from 0).
 * Neither is passed into the container: it sees its GPUs from 0 (container-spec.ts).
 */
export function slurmAllocation(env: Readonly<Record<string, string | undefined>>): AllocationResult {
  const jobId = env['SLURM_JOB_ID'];
  if (jobId === undefined || jobId === '') return { ok: false, problem: 'SLURM_JOB_ID is not set: node-run runs inside a Slurm job' };
  if (!SLURM_ID.test(jobId)) return { ok: false, problem: `SLURM_JOB_ID is not a job id: ${JSON.stringify(jobId)}` };
  const [name, list] = firstSet(env, ['SLURM_JOB_GPUS', 'SLURM_STEP_GPUS', 'CUDA_VISIBLE_DEVICES']);
  if (list === undefined || list === '' || list === 'NoDevFiles') return { ok: true, allocation: { jobId, gpus: [] } };
  if (!GPU_LIST.test(list)) return { ok: false, problem: `${name} is not a list of GPU indices: ${JSON.stringify(list)}` };
  const gpus = list.split(',').map((index) => String(Number(index)));
  if (new Set(gpus).size !== gpus.length) return { ok: false, problem: `${name} names a GPU twice: ${list}` };
  return { ok: true, allocation: { jobId, gpus } };
}

function firstSet(env: Readonly<Record<string, string | undefined>>, names: string[]): [string, string | undefined] {
  for (const name of names) if (env[name] !== undefined) return [name, env[name]];
  return [names[0]!, undefined];
}

/**
 * Why this job may not run on this node as it stands, or undefined. The resources were checked
 * against the config (recheckManifest); these are what only the node can tell.
 */
export function nodeRunRefusal(spec: JobSpec, allocation: SlurmAllocation): string | undefined {
  const m = spec.manifest;
  if (m.interactive) return 'interactive jobs (dopq shell) do not run on Slurm';
  if (m.build || m.image_archive) return 'jobs with build: or image_archive: do not run on Slurm: push an image every node has (image:)';
  if (allocation.gpus.length !== m.gpus) {
    return `Slurm gave the job ${allocation.gpus.length} GPU${allocation.gpus.length === 1 ? '' : 's'} (${allocation.gpus.join(',') || 'none'}), it asked for ${m.gpus}`;
  }
  return undefined;
}

/**
 * Through sudo, Slurm's variables are the caller's to set: the allocation is taken from the
 * controller's record instead, and only for the Slurm job dopq submitted for this job (its
 * name), as its owner, running with its batch step on this node, holding at least the CPUs and
 * memory the container takes, for no longer than the job's time limit.
 */
export function verifiedAllocation(facts: SlurmJobFacts | undefined, spec: JobSpec, jobId: string, host: string): AllocationResult {
  if (!facts || facts.jobId !== jobId) return { ok: false, problem: `Slurm has no job ${jobId}` };
  if (facts.name !== slurmJobName(spec.id))
    return { ok: false, problem: `Slurm job ${jobId} is ${JSON.stringify(facts.name)}, not ${slurmJobName(spec.id)}` };
  if (facts.uid !== spec.uid)
    return { ok: false, problem: `Slurm job ${jobId} runs as uid ${facts.uid}, not as the job's owner ${spec.user}` };
  if (facts.state !== 'RUNNING') return { ok: false, problem: `Slurm job ${jobId} is ${facts.state}, not RUNNING` };
  const short = (name: string) => name.split('.')[0]!.toLowerCase();
  if (short(facts.batchHost) !== short(host))
    return { ok: false, problem: `Slurm job ${jobId} runs on ${facts.batchHost}, not on ${short(host)}` };
  // Docker's container is outside the job's cgroup: Slurm bounds it only by what it gave the job,
  // which a user can lower (scontrol update) or choose (their own sbatch named dopq-ID).
  const need = slurmResources(spec.manifest);
  if (facts.cpus === null || facts.cpus < need.cpus)
    return { ok: false, problem: `Slurm job ${jobId} has ${facts.cpus ?? 'no stated'} CPUs, the container takes ${need.cpus}` };
  if (facts.memoryMiB === null || facts.memoryMiB < need.memoryMiB)
    return {
      ok: false,
      problem: `Slurm job ${jobId} has ${facts.memoryMiB ?? 'no stated'} MiB, the container takes ${need.memoryMiB} MiB`,
    };
  if (facts.timeLimitMinutes === null || facts.timeLimitMinutes > need.minutes)
    return {
      ok: false,
      problem: `Slurm job ${jobId} may run ${facts.timeLimitMinutes ?? 'without a limit'} minutes, the job's time limit is ${need.minutes}`,
    };
  return { ok: true, allocation: { jobId, gpus: facts.gpus } };
}

export type RecordCheck = { ok: true } | { ok: false; wait: boolean; problem: string };

/**
 * Whether the daemon's record of job `id` stands for Slurm job `jobId`: the Slurm job dopq
 * submitted for it, for this attempt, and the job not ended. A user's own Slurm job named
 * dopq-ID (or a finished, cancelled or held job of theirs) runs nothing, so a job runs at most
 * once per attempt. `wait`: the daemon wrote its submission ahead but has not saved the Slurm id yet.
 */
export function recordedSubmission(record: JobRecord | undefined, id: number, jobId: string): RecordCheck {
  if (!record) return { ok: false, wait: false, problem: `job ${id} is not in the daemon's state` };
  if (isFinished(record)) return { ok: false, wait: false, problem: `job ${id} has ended (${record.state})` };
  if (record.slurm_job_id === undefined) {
    if (record.slurm_submit_at !== undefined)
      return { ok: false, wait: true, problem: `the daemon has not recorded job ${id}'s Slurm job; Slurm job ${jobId} may not be it` };
    return { ok: false, wait: false, problem: `dopq has not handed job ${id} to Slurm` };
  }
  if (String(record.slurm_job_id) !== jobId)
    return { ok: false, wait: false, problem: `job ${id} is Slurm job ${record.slurm_job_id}, not ${jobId}` };
  return { ok: true };
}
