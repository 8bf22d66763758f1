// `backend: slurm`: dopq's job records brought to what Slurm says, each pass. Slurm places, orders
// and times the jobs; dopq records it, so that `q`, `wait`, `log -f` and the owner's notices work
// as on one host. Pure: the daemon runs squeue (and sacct for jobs squeue forgot) and acts on the
// result (scancel, scontrol hold/release, sbatch again). Every job ends once: a finished record
// is never changed here, and a Slurm job still pending or running for one is cancelled.
import { finishJob, isFinished, withoutLiveUsage, type JobRecord, type SlurmStatus } from '../job/job.js';
import { isHeld, phaseOf, type SlurmJob } from './slurm-job.js';

/** A stop sent (scancel) and not heard of again this long is sent again. */
export const STOP_RESEND_MS = 30_000;
/** sacct unreachable: a job Slurm's controller forgot waits this long for it before it counts as lost. */
export const ACCOUNTING_PATIENCE_MS = 10 * 60_000;
/** A job found by name must have been submitted no earlier than this before the daemon set out to. */
const CLOCK_SLACK_MS = 60_000;

export interface MirrorInput {
  jobs: readonly JobRecord[];
  /** squeue's jobs (all users'); only those whose comment is `comment` are dopq's. */
  squeue: readonly SlurmJob[];
  /** sacct's answer for `accountingLookups`; null when it could not be asked (or failed). */
  sacct: readonly SlurmJob[] | null;
  /** This spool's mark on its Slurm jobs (sbatch --comment). */
  comment: string;
  /** The Slurm job name of dopq job `id`. */
  nameOf: (id: number) => string;
  /** Seconds before its time limit Slurm sends a job TERM (sbatch --signal=B:TERM@lead). */
  termLead: number;
  now: number;
}

export interface MirrorResult {
  /** Records that changed, whole. */
  updates: JobRecord[];
  /** dopq ids that started running (for the log and the owner's `start` notice). */
  started: number[];
  /** Slurm ids to scancel: stops to send again, and dopq's jobs Slurm runs for no live record. */
  cancel: number[];
  hold: number[];
  release: number[];
  /** dopq ids whose sbatch Slurm never got (written ahead, then the daemon died): submit again. */
  resubmit: number[];
}

/** What only sacct can say: Slurm ids of records squeue no longer lists, and names of submissions it never showed. */
export function accountingLookups(input: Pick<MirrorInput, 'jobs' | 'squeue' | 'comment' | 'nameOf'>): { ids: number[]; names: string[] } {
  const listed = new Set(input.squeue.map((job) => job.job_id));
  const ours = input.squeue.filter((job) => job.comment === input.comment);
  const ids: number[] = [];
  const names: string[] = [];
  for (const job of input.jobs) {
    if (isFinished(job)) continue;
    if (job.slurm_job_id !== undefined) {
      if (!listed.has(job.slurm_job_id)) ids.push(job.slurm_job_id);
    } else if (job.slurm_submit_at !== undefined && !ours.some((s) => s.name === input.nameOf(job.id) && s.user === job.user)) {
      // (Only the owner's own: anyone may name a job dopq-ID and give it dopq's comment.)
      names.push(input.nameOf(job.id));
    }
  }
  return { ids, names };
}

export function mirrorSlurm(input: MirrorInput): MirrorResult {
  const result: MirrorResult = { updates: [], started: [], cancel: [], hold: [], release: [], resubmit: [] };
  const ours = input.squeue.filter((job) => job.comment === input.comment);
  const listed = new Map(input.squeue.map((job) => [job.job_id, job]));
  // sacct's text lines by Slurm id, all of them: a user's job name may hold a newline and a whole
  // line of its own (`77|dopq-9`), so a line counts only for a record of the user it names.
  const accounted = new Map<number, SlurmJob[]>();
  for (const job of input.sacct ?? []) accounted.set(job.job_id, [...(accounted.get(job.job_id) ?? []), job]);
  // Slurm ids a live record stands for: every other job of ours still pending or running is cancelled.
  const claimed = new Set<number>();

  for (const record of input.jobs) {
    if (isFinished(record)) continue;
    let job = record;
    if (job.slurm_job_id === undefined) {
      if (job.slurm_submit_at === undefined) continue;
      const found = findSubmission(job, ours, input);
      if (found.length === 0) {
        if (input.sacct !== null || input.now - job.slurm_submit_at >= ACCOUNTING_PATIENCE_MS) result.resubmit.push(job.id);
        continue;
      }
      // sbatch ran twice for one job (a timeout that was not one): the first stays, the others go.
      const [first, ...others] = [...found].sort((a, b) => a.job_id - b.job_id);
      for (const other of others) if (phaseOf(other.state) !== 'ended') result.cancel.push(other.job_id);
      job = { ...job, slurm_job_id: first!.job_id };
    }
    const slurmId = job.slurm_job_id!;
    claimed.add(slurmId);
    const seen = listed.get(slurmId) ?? accounted.get(slurmId)?.find((s) => s.user === job.user);
    let next: JobRecord;
    if (seen) next = follow(job, seen, input, result);
    else if (input.sacct === null && input.now - (job.started_at ?? job.slurm_submit_at ?? job.submitted_at) < ACCOUNTING_PATIENCE_MS)
      next = job;
    else next = lost(job, slurmId, input.now);
    if (next !== record) result.updates.push(next);
  }

  for (const job of ours) {
    if (claimed.has(job.job_id) || phaseOf(job.state) === 'ended') continue;
    if (!result.cancel.includes(job.job_id)) result.cancel.push(job.job_id);
  }
  return result;
}

/** The Slurm jobs that are this record's submission: its name, its owner, submitted after it set out to. */
function findSubmission(job: JobRecord, ours: readonly SlurmJob[], input: MirrorInput): SlurmJob[] {
  const name = input.nameOf(job.id);
  const after = (job.slurm_submit_at ?? job.submitted_at) - CLOCK_SLACK_MS;
  const fits = (s: SlurmJob) => s.name === name && (s.user === null || s.user === job.user) && (s.submit_time ?? Infinity) >= after;
  // sacct is asked by name only for this: its jobs need not carry the comment (AccountingStoreFlags).
  const found = new Map<number, SlurmJob>();
  for (const s of [...ours, ...(input.sacct ?? [])]) if (fits(s)) found.set(s.job_id, s);
  return [...found.values()];
}

/** The record as Slurm's job says it now; `job` itself when nothing changed. */
function follow(job: JobRecord, seen: SlurmJob, input: MirrorInput, result: MirrorResult): JobRecord {
  const now = input.now;
  const phase = phaseOf(seen.state);
  if (phase === 'ended') return ended(job, seen, now, input.termLead);
  const status: SlurmStatus = {
    state: seen.state,
    node: seen.node,
    reason: phase === 'pending' ? seen.reason : null,
    priority: phase === 'pending' ? seen.priority : null,
    start_estimate: phase === 'pending' ? seen.start_time : null,
  };
  if (phase === 'pending') {
    const held = isHeld(seen);
    if (job.held_by && !held) result.hold.push(seen.job_id);
    if (!job.held_by && held) result.release.push(seen.job_id);
    if (job.state === 'running') {
      // Slurm requeued it (a node failed): it waits again as the next attempt, holding no GPU.
      const { started_at: _s, stopping: _st, stop_requested_at: _r, ...rest } = withoutLiveUsage(job);
      const attempt = (job.attempt ?? 1) + 1;
      return { ...rest, state: 'queued', gpus: [], attempt, slurm: status, message: `requeued by Slurm (attempt ${attempt})` };
    }
    return sameStatus(job.slurm, status) ? job : { ...job, slurm: status };
  }
  const gpus = seen.gpus.length > 0 ? seen.gpus.map((index) => `${seen.node ?? '?'}:${index}`) : job.gpus;
  if (job.state !== 'running') {
    result.started.push(job.id);
    const { held_by: _h, ...rest } = job;
    return { ...rest, state: 'running', started_at: seen.start_time ?? now, gpus, slurm: status };
  }
  let next = job;
  if (job.stopping && now - (job.stop_requested_at ?? 0) >= STOP_RESEND_MS) {
    result.cancel.push(seen.job_id);
    next = { ...next, stop_requested_at: now };
  }
  if (!sameStatus(job.slurm, status) || gpus.join() !== job.gpus.join()) next = { ...next, slurm: status, gpus };
  return next;
}

/** How an ended Slurm job ends its record. */
function ended(job: JobRecord, seen: SlurmJob, now: number, termLead: number): JobRecord {
  const finishedAt = seen.end_time ?? now;
  const slurm: SlurmStatus = {
    state: seen.state,
    node: seen.node ?? job.slurm?.node ?? null,
    reason: null,
    priority: null,
    start_estimate: null,
  };
  if (seen.state === 'CANCELLED' && job.state !== 'running') {
    // Cancelled while it waited (scancel outside dopq): it never ran, whatever times Slurm filled in.
    const { held_by: _h, ...rest } = job;
    return {
      ...rest,
      state: 'cancelled',
      reason: 'cancelled',
      message: job.message ?? 'cancelled in Slurm (scancel)',
      finished_at: finishedAt,
      slurm,
    };
  }
  const ran: JobRecord = {
    ...job,
    state: 'running',
    ...(job.started_at === undefined ? { started_at: seen.start_time ?? finishedAt } : {}),
    gpus: job.gpus.length > 0 ? job.gpus : seen.gpus.map((index) => `${seen.node ?? '?'}:${index}`),
    slurm,
  };
  const exitCode = seen.exit === null ? null : seen.exit.signal !== null ? 128 + seen.exit.signal : seen.exit.code;
  const exit = { exitCode, oomKilled: seen.state === 'OUT_OF_MEMORY', finishedAt };
  switch (seen.state) {
    case 'COMPLETED':
      return finishJob(ran, { ...exit, exitCode: exitCode ?? 0 });
    case 'FAILED':
      // The TERM before the time limit stopped it (the helper then exits on its own, before Slurm's TIMEOUT).
      if (stoppedByTimeLimitSignal(ran, exitCode, finishedAt, termLead)) return finishJob({ ...ran, stopping: 'time-limit' }, exit);
      // Slurm says it failed: an exit code of 0 (or none) is not taken for success.
      return finishJob(ran, { ...exit, exitCode: exitCode === 0 ? null : exitCode });
    case 'OUT_OF_MEMORY':
      return finishJob(ran, exit);
    case 'TIMEOUT':
      return finishJob({ ...ran, stopping: 'time-limit' }, exit);
    case 'CANCELLED':
      return finishJob({ ...ran, stopping: job.stopping ?? 'cancelled', message: job.message ?? 'cancelled in Slurm (scancel)' }, exit);
    default: {
      // NODE_FAIL, BOOT_FAIL, PREEMPTED, DEADLINE: the job did not end by its own doing.
      const { stopping: _s, stop_requested_at: _r, ...rest } = withoutLiveUsage(ran);
      return {
        ...rest,
        state: 'failed',
        reason: 'lost',
        message: `Slurm ended it: ${seen.state}${seen.reason ? ` (${seen.reason})` : ''}`,
        exit_code: exitCode,
        finished_at: Math.max(finishedAt, ran.started_at ?? 0),
      };
    }
  }
}

/**
 * Killed by TERM (or KILL after it) no earlier than Slurm sends the time limit's TERM: Slurm's
 * limit is whole minutes, the TERM comes `termLead` seconds before it, and up to a minute early.
 */
function stoppedByTimeLimitSignal(job: JobRecord, exitCode: number | null, finishedAt: number, termLead: number): boolean {
  if (exitCode !== 143 && exitCode !== 137) return false;
  const limit = Math.max(1, Math.ceil(job.time_limit / 60)) * 60;
  return finishedAt - (job.started_at ?? finishedAt) >= (limit - termLead - 60) * 1000;
}

function lost(job: JobRecord, slurmId: number, now: number): JobRecord {
  const { stopping: _s, stop_requested_at: _r, ...rest } = withoutLiveUsage(job);
  return {
    ...rest,
    slurm_job_id: slurmId,
    state: 'failed',
    reason: 'lost',
    message: `Slurm no longer knows its job ${slurmId} (ended while dopq was away, and no accounting says how)`,
    exit_code: null,
    finished_at: now,
  };
}

function sameStatus(a: SlurmStatus | undefined, b: SlurmStatus): boolean {
  return (
    a !== undefined &&
    a.state === b.state &&
    a.node === b.node &&
    a.reason === b.reason &&
    a.priority === b.priority &&
    a.start_estimate === b.start_estimate
  );
}
