// The compact record a job leaves for accounting (`dopq report`): kept in state/accounting.jsonl
// after its log and its entry in the state are pruned, so months of GPU-hours stay countable.
import type { JobRecord, JobState } from '../job/job.js';

export interface AccountingRecord {
  id: number;
  user: string;
  name: string;
  state: JobState;
  reason: string | null;
  exit_code: number | null;
  /** GPUs it held while running (what it asked for when the state kept no ids). */
  gpus: number;
  /** ms since the epoch, as in the state; null when it never started or has not finished. */
  submitted_at: number;
  started_at: number | null;
  finished_at: number | null;
  /** Telemetry's summary when it was measured: mean GPU utilization over its run; null: unknown. */
  gpu_util_percent_mean: number | null;
}

export function accountingRecordOf(job: JobRecord): AccountingRecord {
  const util = job.usage_summary?.gpu_util_percent_mean;
  return {
    id: job.id,
    user: job.user,
    name: job.name,
    state: job.state,
    reason: job.reason ?? null,
    exit_code: job.exit_code ?? null,
    gpus: job.gpus.length > 0 ? job.gpus.length : job.gpus_requested,
    submitted_at: job.submitted_at,
    started_at: job.started_at ?? null,
    finished_at: job.finished_at ?? null,
    gpu_util_percent_mean: typeof util === 'number' && Number.isFinite(util) ? util : null,
  };
}

/** The lines of an accounting file as records: a line that is not one (a torn last write) is skipped. */
export function parseAccountingLines(text: string): AccountingRecord[] {
  const records: AccountingRecord[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const value = JSON.parse(line) as AccountingRecord;
      if (typeof value.id === 'number' && typeof value.user === 'string' && typeof value.submitted_at === 'number') records.push(value);
    } catch {
      // a line cut by a crash mid-append: the record is in the state still, or lost with that one job
    }
  }
  return records;
}
