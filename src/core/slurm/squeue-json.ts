// `squeue --json` (Slurm 22.05's openapi v0.0.38 dump, and the later shapes) into SlurmJobs: the
// jobs the controller holds, pending, running and ended within MinJobAge.
import { gpuIndices, jobsOfDocument, numberField, stringField, timeField, waitStatus, type SlurmJob } from './slurm-job.js';

export function parseSqueueJson(text: string): SlurmJob[] {
  const jobs: SlurmJob[] = [];
  for (const entry of jobsOfDocument(text, 'squeue --json')) {
    const job = squeueJob(entry);
    if (job) jobs.push(job);
  }
  return jobs;
}

function squeueJob(entry: unknown): SlurmJob | null {
  if (!entry || typeof entry !== 'object') return null;
  const e = entry as Record<string, unknown>;
  const id = numberField(e.job_id);
  const state = stringField(e.job_state);
  if (id === null || state === null) return null;
  const reason = stringField(e.state_reason);
  const node = stringField(e.batch_host) || stringField(e.nodes) || null;
  const details = Array.isArray(e.gres_detail) ? e.gres_detail.filter((d): d is string => typeof d === 'string') : [];
  return {
    job_id: id,
    name: stringField(e.name) ?? '',
    user: stringField(e.user_name),
    state,
    reason: reason === null || reason === 'None' ? null : reason,
    priority: numberField(e.priority),
    node: state === 'PENDING' ? null : node,
    gpus: gpuIndices(details),
    submit_time: timeField(e.submit_time),
    start_time: timeField(e.start_time),
    end_time: timeField(e.end_time),
    exit: exitOf(e.exit_code),
    comment: stringField(e.comment) || null,
  };
}

/** 22.05: the raw wait status as a number; later: {status, return_code, signal: {id}}. */
function exitOf(value: unknown): SlurmJob['exit'] {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const v = value as { return_code?: unknown; signal?: { id?: unknown; signal_id?: unknown } };
    const signal = numberField(v.signal?.id ?? v.signal?.signal_id);
    if (signal !== null && signal > 0) return { code: null, signal };
    return { code: numberField(v.return_code), signal: null };
  }
  return waitStatus(numberField(value));
}
