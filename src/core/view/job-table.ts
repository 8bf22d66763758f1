// `dopq q --format FIELDS`: one table of the jobs chosen, with exactly the columns asked for
// (header = field names), rather than the usual panes; `-q` prints only their ids.
import { fieldCells, type FieldContext } from './job-fields.js';
import { drawTable, TABLE_CHUNK_ROWS } from './render.js';
import { jobFilter, type JobFilter, type StateFilter } from './job-filter.js';
import type { JobView, QueueView } from './queue-view.js';

/** The view with only the jobs `filter` selects (the rest of it as it was). */
export function filterView(view: QueueView, filter: JobFilter): QueueView {
  const keep = jobFilter(filter);
  return { ...view, jobs: view.jobs.filter(keep) };
}

/** `-q`: the ids, one a line; without a state filter only jobs not finished, as squeue and docker ps -q list. */
export function jobIdLines(jobs: readonly JobView[], states: readonly StateFilter[] | undefined): string {
  const shown =
    states === undefined ? jobs.filter((job) => job.state === 'queued' || job.state === 'building' || job.state === 'running') : jobs;
  return shown.map((job) => `${job.id}\n`).join('');
}

export function fieldContext(view: QueueView, now: number, timeZone: string | undefined): FieldContext {
  return { now, gpuIndex: new Map(view.gpus.map((gpu) => [gpu.id, gpu.index])), ...(timeZone ? { timeZone } : {}) };
}

/** The jobs by id, one row each, the columns `fields`; `(none)` when no job is left. */
export function renderJobTable(jobs: readonly JobView[], fields: readonly string[], ctx: FieldContext, width?: number): string {
  if (jobs.length === 0) return '  (none)\n';
  const rows = [...jobs].sort((a, b) => a.id - b.id).map((job) => fieldCells(job, fields, ctx));
  // In a narrow terminal names and messages are cut first; no column asked for is dropped.
  const fit = { drop: [], truncate: ['name', 'message', 'image'].map((column) => ({ column, min: 10 })) };
  return `${drawTable([...fields], rows, TABLE_CHUNK_ROWS, { fit, width })}\n`;
}
