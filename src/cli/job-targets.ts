// The jobs a command's arguments name: every job the caller can know of (the daemon's records,
// then the intake files it has not read), and the job references (core/job/job-ref.ts) resolved
// against them. Shared by rm, hold, release, top, wait and log.
import { readdir } from 'node:fs/promises';
import { NotFoundError } from '../core/errors.js';
import type { JobRecord, JobState } from '../core/job/job.js';
import { formatJobRef, resolveJobRefs, type JobRef, type ResolvedRef } from '../core/job/job-ref.js';
import type { Caller } from '../core/permissions.js';
import type { PendingJob, StateFile } from '../core/state.js';
import { INTAKE_SUFFIX } from '../io/spool/spool.js';
import { pendingJobs } from '../io/spool/pending.js';
import { readState } from '../io/spool/state-store.js';
import { currentCaller } from '../io/host/users.js';
import type { CommandContext } from './context.js';

/** A job as these commands see it: its record, or an intake file taken as queued. */
export interface KnownJob {
  id: number;
  uid: number;
  user: string;
  name: string;
  state: JobState;
  held_by?: string;
  array?: { id: number; index: number } | null;
  /** Whether the daemon has read it (false: a file in the intake). */
  ingested: boolean;
  /** Not read yet: the intake file that holds it, and the job numbers that file holds (an array's: all its tasks'). */
  intake?: { file: string; first: number; last: number };
  record?: JobRecord;
}

export interface KnownJobs {
  state: StateFile;
  jobs: KnownJob[];
  byId: ReadonlyMap<number, KnownJob>;
}

/**
 * The state's jobs and the intake's. The intake is listed first: the daemon saves a job's
 * record before it removes the file, so a job is in one or the other, never in neither.
 */
export async function knownJobs(ctx: CommandContext): Promise<KnownJobs> {
  const pending = await pendingJobs(ctx.spool.intake);
  const state = await readState(ctx.spool.state);
  const jobs: KnownJob[] = state.jobs.map((record) => ({
    id: record.id,
    uid: record.uid,
    user: record.user,
    name: record.name,
    state: record.state,
    ...(record.held_by ? { held_by: record.held_by } : {}),
    array: (record as JobRecord & { array?: KnownJob['array'] }).array ?? null,
    ingested: true,
    record,
  }));
  const recorded = new Set(jobs.map((job) => job.id));
  for (const job of pending) {
    // An array not read yet is one file holding every task's number (`17-36.job`); its tasks'
    // indices are unknown until the daemon reads it, but its id names them all.
    const last = job.id + ((job as PendingJob & { tasks?: number }).tasks ?? 1) - 1;
    const intake = { file: `${job.id}${last > job.id ? `-${last}` : ''}${INTAKE_SUFFIX}`, first: job.id, last };
    for (let id = job.id; id <= last; id += 1) {
      if (recorded.has(id)) continue;
      const array = last > job.id ? { id: job.id, index: Number.NaN } : null;
      jobs.push({ id, uid: job.uid, user: job.user, name: job.name ?? '?', state: 'queued', array, ingested: false, intake });
    }
  }
  return { state, jobs, byId: new Map(jobs.map((job) => [job.id, job])) };
}

/**
 * The job numbers the intake's files hold, from their names alone (no file is opened): `17.job`
 * one, an array's `17-36.job` each of 17..36.
 */
export async function intakeNumbers(intake: string): Promise<Set<number>> {
  const numbers = new Set<number>();
  for (const name of await readdir(intake)) {
    const match = /^([1-9]\d{0,9})(?:-([1-9]\d{0,9}))?\.job$/.exec(name);
    if (!match) continue;
    const first = Number(match[1]);
    const last = match[2] === undefined ? first : Number(match[2]);
    // A name is a claim, not a fact: a range past any array's size is no job of dopq's.
    if (last < first || last - first >= MAX_INTAKE_RANGE) continue;
    for (let id = first; id <= last; id += 1) numbers.add(id);
  }
  return numbers;
}

/** The most numbers one intake file's name may claim here (arrays are far smaller). */
const MAX_INTAKE_RANGE = 1_000_000;

export async function knownJobsAndCaller(ctx: CommandContext): Promise<KnownJobs & { caller: Caller }> {
  const [known, caller] = await Promise.all([knownJobs(ctx), currentCaller()]);
  return { ...known, caller };
}

/** Whether a reference names one job as written (an id or a task), or many (a range, an array's id). */
export const isBulk = (resolved: ResolvedRef): boolean => resolved.ref.kind === 'range' || resolved.array;

export function resolve(refs: readonly JobRef[], known: KnownJobs): ResolvedRef[] {
  return resolveJobRefs(refs, known.jobs);
}

/** The error for a reference that names no job. */
export function noSuchJob(ref: JobRef): NotFoundError {
  if (ref.kind === 'range') return new NotFoundError(`jobs ${formatJobRef(ref)}`, 'no job has an id in this range');
  if (ref.kind === 'task')
    return new NotFoundError(`job ${formatJobRef(ref)}`, `no such task: array ${ref.array} has no index ${ref.index}`);
  return new NotFoundError(`job ${ref.id}`, 'no such job');
}

/** `job 17` or `job 17_3 (id 20)`: how messages name a job. */
export function jobSubject(job: KnownJob): string {
  return job.array ? `job ${job.array.id}_${job.array.index} (id ${job.id})` : `job ${job.id}`;
}
