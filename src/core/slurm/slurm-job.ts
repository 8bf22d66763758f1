// A Slurm job as the daemon mirrors it, whether squeue or sacct told of it: one plain shape for
// both, and the readers of their JSON fields that differ between Slurm releases (22.05 writes
// `"priority": 7`, later ones `{"set": true, "number": 7}`; `job_state` a string or a list).

/** Slurm's states grouped by what dopq makes of them (`squeue --help`, JOB STATE CODES). */
export type SlurmPhase = 'pending' | 'running' | 'ended';

export interface SlurmJob {
  job_id: number;
  name: string;
  /** The owner's login name, where Slurm says it. */
  user: string | null;
  /** Slurm's state word: PENDING, RUNNING, COMPLETED, TIMEOUT, ... */
  state: string;
  /** Why a pending job waits (`Priority`, `Resources`, `JobHeldAdmin`, ...); null for `None`. */
  reason: string | null;
  /** Slurm's priority of a pending job (null where it does not say). */
  priority: number | null;
  /** Where it runs or ran (the batch host); null while pending. */
  node: string | null;
  /** GPU indices on `node` (gres_detail `gpu:2(IDX:0,3)` -> 0, 3); [] when unknown. */
  gpus: string[];
  /** ms since the epoch; null when Slurm has none (0) yet. */
  submit_time: number | null;
  /** Running: when it started; pending: Slurm's expected start, when the backfill computed one. */
  start_time: number | null;
  end_time: number | null;
  /** An ended job's batch script exit: a code, or the signal that killed it. */
  exit: { code: number | null; signal: number | null } | null;
  /** sbatch --comment, which dopq sets to its instance (others' jobs are never touched). */
  comment: string | null;
}

const PENDING = new Set(['PENDING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'RESV_DEL_HOLD', 'SPECIAL_EXIT']);
// COMPLETING: the script has exited and the epilog runs (it removes leftover containers): the
// job is not over for dopq until Slurm says it is.
const RUNNING = new Set([
  'RUNNING',
  'CONFIGURING',
  'COMPLETING',
  'SIGNALING',
  'STAGE_OUT',
  'SUSPENDED',
  'RESIZING',
  'STOPPED',
  'POWER_UP_NODE',
]);

export function phaseOf(state: string): SlurmPhase {
  if (PENDING.has(state)) return 'pending';
  if (RUNNING.has(state)) return 'running';
  return 'ended';
}

/** Holds set with `scontrol hold` (JobHeldAdmin when root asks) or by the owner (JobHeldUser). */
export function isHeld(job: Pick<SlurmJob, 'state' | 'reason'>): boolean {
  return phaseOf(job.state) === 'pending' && (job.reason === 'JobHeldAdmin' || job.reason === 'JobHeldUser');
}

/** A number as any release writes it: 7, "7", {"set": true, "number": 7}; null when unset or infinite. */
export function numberField(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) return Number(value);
  if (value && typeof value === 'object') {
    const v = value as { set?: unknown; infinite?: unknown; number?: unknown };
    if (v.set === false || v.infinite === true) return null;
    return numberField(v.number);
  }
  return null;
}

/** A string, or the first of a list of strings (`job_state: ["RUNNING"]` in later releases). */
export function stringField(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  return null;
}

/** Seconds since the epoch as ms; 0 (Slurm's "none") as null. */
export function timeField(value: unknown): number | null {
  const seconds = numberField(value);
  return seconds === null || seconds <= 0 ? null : seconds * 1000;
}

/** `gpu:2(IDX:0,3)`, `gpu:tesla:2(IDX:1-2)`, `gpu(IDX:0)` -> the indices, as strings. */
export function gpuIndices(details: readonly string[]): string[] {
  const indices: string[] = [];
  for (const detail of details) {
    const match = /^gpu\b[^(]*\(IDX:([^)]*)\)/.exec(detail);
    if (!match || match[1] === 'N/A') continue;
    for (const part of match[1]!.split(',')) {
      const range = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
      if (!range) continue;
      const from = Number(range[1]);
      const to = range[2] === undefined ? from : Number(range[2]);
      for (let i = from; i <= to && i - from < 1024; i += 1) indices.push(String(i));
    }
  }
  return indices;
}

/** A wait(2) status as Slurm keeps it (exit code << 8, or the signal in the low bits). */
export function waitStatus(raw: number | null): SlurmJob['exit'] {
  if (raw === null || raw < 0) return null;
  const signal = raw & 0x7f;
  return signal !== 0 ? { code: null, signal } : { code: (raw >> 8) & 0xff, signal: null };
}

/** The JSON document of a Slurm command, or an error naming the command; `jobs` must be a list. */
export function jobsOfDocument(text: string, command: string): unknown[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${command} printed no JSON (is Slurm 22.05 or later installed?)`);
  }
  const doc = value as { jobs?: unknown; errors?: unknown } | null;
  if (!doc || typeof doc !== 'object' || !Array.isArray(doc.jobs)) throw new Error(`${command} printed JSON without a jobs list`);
  return doc.jobs;
}
