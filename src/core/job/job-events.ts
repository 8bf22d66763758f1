// Job events (start, end, fail, idle): what a job's owner may be told, built from its own record only.

/** The fields of a job record an event reads (job.ts's JobRecord has them; no import, so config and manifest may use this file). */
interface JobRecord {
  id: number;
  name: string;
  user: string;
  uid: number;
  state: string;
  reason?: string;
  exit_code?: number | null;
  submitted_at: number;
  started_at?: number;
  finished_at?: number;
  /** A finished job's usage (telemetry's usage.ts), sent with its end or failure when there. */
  usage_summary?: UsageSummary | null;
}

export const JOB_EVENT_TYPES = ['start', 'end', 'fail', 'idle'] as const;
export type JobEventType = (typeof JOB_EVENT_TYPES)[number];

/**
 * A job's usage as telemetry gives it (its usage.ts: a running job's sample, a finished job's
 * summary): sent as it is. Any object, so telemetry's own interfaces fit without an index signature.
 */
export type UsageSummary = object;

export interface JobEvent {
  event: JobEventType;
  job: {
    id: number;
    name: string;
    user: string;
    uid: number;
    state: string;
    reason: string | null;
    exit_code: number | null;
    submitted_at: number;
    started_at: number | null;
    finished_at: number | null;
  };
  usage?: UsageSummary;
}

/**
 * The end event a change of one job's record makes: `end` when it ends done or cancelled, `fail`
 * when it fails or is refused; undefined otherwise (`start` is sent once its container started).
 */
export function endEventType(before: Pick<JobRecord, 'state'> | undefined, after: Pick<JobRecord, 'state'>): JobEventType | undefined {
  if (before?.state === after.state) return undefined;
  if (after.state === 'done' || after.state === 'cancelled') return 'end';
  if (after.state === 'failed' || after.state === 'rejected') return 'fail';
  return undefined;
}

/** The event as sent: the job's own fields and nothing of any other job's. */
export function jobEvent(event: JobEventType, job: JobRecord, usage?: UsageSummary): JobEvent {
  return {
    event,
    job: {
      id: job.id,
      name: job.name,
      user: job.user,
      uid: job.uid,
      state: job.state,
      reason: job.reason ?? null,
      exit_code: job.exit_code ?? null,
      submitted_at: job.submitted_at,
      started_at: job.started_at ?? null,
      finished_at: job.finished_at ?? null,
    },
    ...((usage ?? job.usage_summary) ? { usage: (usage ?? job.usage_summary)! } : {}),
  };
}
