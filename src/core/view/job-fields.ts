// The job fields `dopq q --format` picks: the columns of its one table, or the keys of each job
// with `--json`. Each is a job view key or one derived from it (time left, runtime, task label).
import { UsageError } from '../errors.js';
import { formatDuration } from '../units.js';
import { localTime } from './local-time.js';
import { printable } from './printable.js';
import type { JobView } from './queue-view.js';

/** An array task as the state and `q --json` record it (absent on jobs that are no task). */
export interface ArrayTask {
  id: number;
  index: number;
  size: number;
  throttle: number | null;
}

/** The job's `array` field where the view has one (null: no array's task). */
export function arrayOf(job: JobView): ArrayTask | null {
  return (job as JobView & { array?: ArrayTask | null }).array ?? null;
}

/** The job in Slurm, where the view has it (views cached before the Slurm backend lack the key). */
function slurmOf(job: JobView): JobView['slurm'] {
  return job.slurm ?? null;
}

/** `17_3` for a task, else the job id. */
export function taskLabel(job: JobView): string {
  const array = arrayOf(job);
  return array ? `${array.id}_${array.index}` : String(job.id);
}

/** Seconds a job has run: until now while running, until it ended once finished; null if it never started. */
export function runtimeOf(job: JobView, now: number): number | null {
  if (job.started_at === null) return null;
  const end = job.state === 'running' ? now : job.finished_at === null ? now : Date.parse(job.finished_at);
  return Math.max(0, (end - Date.parse(job.started_at)) / 1000);
}

/** Seconds until a running job's time limit stops it (0 once past); null for jobs not running. */
export function timeLeftOf(job: JobView, now: number): number | null {
  if (job.state !== 'running' || job.started_at === null || job.time_limit === null) return null;
  return Math.max(0, job.time_limit - (now - Date.parse(job.started_at)) / 1000);
}

export interface FieldContext {
  now: number;
  timeZone?: string;
  /** GPU id -> index, to show the GPUs people know. */
  gpuIndex: ReadonlyMap<string, number>;
}

const time = (iso: string | null, ctx: FieldContext) => (iso === null ? '-' : localTime(Date.parse(iso), ctx.now, ctx.timeZone));
const text = (value: string | null) => (value === null || value === '' ? '-' : printable(value.split('\n')[0]!));
const num = (value: number | null) => (value === null ? '-' : String(value));
const duration = (seconds: number | null) => (seconds === null ? '-' : formatDuration(seconds));

interface Field {
  /** Its value in `--json` (derived fields only; the others are the view's own). */
  json?: (job: JobView, ctx: FieldContext) => unknown;
  cell: (job: JobView, ctx: FieldContext) => string;
}

/** A job's dependencies as a cell: `12,14`, or `-` for none. */
function ids(list: readonly number[]): string {
  return list.length === 0 ? '-' : list.join(',');
}

const FIELDS: Record<string, Field> = {
  id: { cell: (job) => String(job.id) },
  task: { json: taskLabel, cell: taskLabel },
  name: { cell: (job) => printable(job.name) },
  user: { cell: (job) => job.user },
  state: { cell: (job) => job.state },
  gpus: {
    cell: (job, ctx) =>
      job.gpus.length === 0
        ? '-'
        : job.gpus
            .map((id) => ctx.gpuIndex.get(id) ?? id)
            .sort((a, b) => Number(a) - Number(b) || 0)
            .join(','),
  },
  gpus_requested: { cell: (job) => String(job.gpus_requested) },
  penalty: { cell: (job) => (job.penalty === null ? '-' : job.penalty.toFixed(2)) },
  position: { cell: (job) => num(job.position) },
  estimated_start: { cell: (job, ctx) => time(job.estimated_start, ctx) },
  waiting_for: { cell: (job) => text(job.waiting_for) },
  held_by: { cell: (job) => text(job.held_by) },
  submitted_at: { cell: (job, ctx) => time(job.submitted_at, ctx) },
  started_at: { cell: (job, ctx) => time(job.started_at, ctx) },
  finished_at: { cell: (job, ctx) => time(job.finished_at, ctx) },
  exit_code: { cell: (job) => num(job.exit_code) },
  reason: { cell: (job) => text(job.reason) },
  message: { cell: (job) => text(job.message) },
  image: { cell: (job) => text(job.image) },
  time_limit: { cell: (job) => duration(job.time_limit) },
  time_left: { json: (job, ctx) => timeLeftOf(job, ctx.now), cell: (job, ctx) => duration(timeLeftOf(job, ctx.now)) },
  runtime: { json: (job, ctx) => runtimeOf(job, ctx.now), cell: (job, ctx) => duration(runtimeOf(job, ctx.now)) },
  attempt: { cell: (job) => String(job.attempt) },
  cpu_percent: { json: (job) => job.usage?.cpu_percent ?? null, cell: (job) => num(job.usage?.cpu_percent ?? null) },
  memory_bytes: { json: (job) => job.usage?.memory_bytes ?? null, cell: (job) => num(job.usage?.memory_bytes ?? null) },
  gpu_util_percent: { json: (job) => job.usage?.gpu_util_percent ?? null, cell: (job) => num(job.usage?.gpu_util_percent ?? null) },
  idle: { cell: (job) => String(job.idle) },
  ingested: { cell: (job) => String(job.ingested) },
  after: { cell: (job) => ids(job.after) },
  after_any: { cell: (job) => ids(job.after_any) },
  interactive: { cell: (job) => String(job.interactive) },
  // backend: slurm: the job in Slurm.
  slurm_job_id: { json: (job) => slurmOf(job)?.job_id ?? null, cell: (job) => num(slurmOf(job)?.job_id ?? null) },
  node: { json: (job) => slurmOf(job)?.node ?? null, cell: (job) => text(slurmOf(job)?.node ?? null) },
  slurm_reason: { json: (job) => slurmOf(job)?.reason ?? null, cell: (job) => text(slurmOf(job)?.reason ?? null) },
  priority: { json: (job) => slurmOf(job)?.priority ?? null, cell: (job) => num(slurmOf(job)?.priority ?? null) },
  array: {
    json: arrayOf,
    cell: (job) => {
      const array = arrayOf(job);
      return array ? `${array.id}[${array.index}/${array.size}${array.throttle === null ? '' : `%${array.throttle}`}]` : '-';
    },
  },
};

export const JOB_FIELDS: readonly string[] = Object.keys(FIELDS);

/** `id,user,state`: the fields, each checked; an unknown one is a usage error naming it and the known ones. */
export function parseFields(list: string): string[] {
  const fields = list
    .split(',')
    .map((field) => field.trim())
    .filter((field) => field !== '');
  const twice = fields.find((field, i) => fields.indexOf(field) !== i);
  if (twice !== undefined) throw new UsageError(`the field ${JSON.stringify(twice)} is given twice`);
  if (fields.length === 0) throw new UsageError(`no fields given; expected some of ${JOB_FIELDS.join(',')}`);
  for (const field of fields) {
    if (!Object.hasOwn(FIELDS, field))
      throw new UsageError(`unknown field ${JSON.stringify(field)}; expected some of ${JOB_FIELDS.join(',')}`);
  }
  return fields;
}

/** The job reduced to `fields`, in their order, for `--json --format`. */
export function pickFields(job: JobView, fields: readonly string[], ctx: FieldContext): Record<string, unknown> {
  return Object.fromEntries(
    fields.map((field) => [field, FIELDS[field]!.json?.(job, ctx) ?? (job as unknown as Record<string, unknown>)[field] ?? null]),
  );
}

/** The job's cells for `fields`, for the `--format` table. */
export function fieldCells(job: JobView, fields: readonly string[], ctx: FieldContext): string[] {
  return fields.map((field) => FIELDS[field]!.cell(job, ctx));
}
