// Job arguments as users type them, Slurm's way: `17` (a job, or an array's id = all its tasks),
// `17_3` (task 3 of array 17), `17_[1-3,5]` (some tasks), `17-25` (ids 17 to 25), and any of
// these joined with commas (`17,19`). One parser and one resolver for every command that takes jobs.
import { UsageError } from '../errors.js';

export type JobRef =
  { kind: 'job'; id: number } | { kind: 'task'; array: number; index: number } | { kind: 'range'; from: number; to: number };

/** What the resolver needs of a job: its id and, for a task of an array, where it stands in it. */
export interface RefTarget {
  id: number;
  /** Absent on jobs written before arrays existed, and on jobs not read by the daemon yet: null. */
  array?: { id: number; index: number } | null;
}

/** Tasks one `17_[a-b]` may name: a bracket is expanded, so a typo of a huge range is refused. */
export const MAX_BRACKET_TASKS = 100_000;

const NUMBER = String.raw`\d{1,15}`;
const JOB = new RegExp(`^(${NUMBER})$`);
const TASK = new RegExp(`^(${NUMBER})_(${NUMBER})$`);
const RANGE = new RegExp(`^(${NUMBER})-(${NUMBER})$`);
const BRACKET = new RegExp(`^(${NUMBER})_\\[([^\\]]*)\\]$`);

const SYNTAX = 'expected a job id (17), a task (17_3, 17_[1-3]), a range (17-25) or a list (17,19)';

/** Every reference in `args`, in order; a malformed one is a usage error (64) naming it. */
export function parseJobRefs(args: readonly string[]): JobRef[] {
  return args.flatMap(parseJobArgument);
}

/** One argument, which may hold several references joined with commas (outside brackets). */
export function parseJobArgument(text: string): JobRef[] {
  const parts = splitOutsideBrackets(text.trim());
  if (parts.some((part) => part === '')) throw bad(text, 'an empty part');
  return parts.flatMap((part) => parsePart(part, text));
}

function parsePart(part: string, arg: string): JobRef[] {
  let match = JOB.exec(part);
  if (match) return [{ kind: 'job', id: Number(match[1]) }];
  match = TASK.exec(part);
  if (match) return [{ kind: 'task', array: Number(match[1]), index: Number(match[2]) }];
  match = RANGE.exec(part);
  if (match) {
    const [from, to] = [Number(match[1]), Number(match[2])];
    if (from > to) throw bad(arg, `the range ${part} runs backwards`);
    return [{ kind: 'range', from, to }];
  }
  match = BRACKET.exec(part);
  if (match) {
    const array = Number(match[1]);
    return taskIndices(match[2]!, arg).map((index) => ({ kind: 'task' as const, array, index }));
  }
  throw bad(arg, part === arg ? undefined : `${JSON.stringify(part)} is not a job`);
}

/** `1-3,5` inside `17_[...]`: the indices, ascending as written. */
function taskIndices(list: string, arg: string): number[] {
  const indices: number[] = [];
  for (const item of list.split(',')) {
    const match = /^(\d{1,15})(?:-(\d{1,15}))?$/.exec(item);
    if (!match) throw bad(arg, `${JSON.stringify(item)} is not a task index or range`);
    const from = Number(match[1]);
    const to = match[2] === undefined ? from : Number(match[2]);
    if (from > to) throw bad(arg, `the range ${item} runs backwards`);
    if (indices.length + (to - from + 1) > MAX_BRACKET_TASKS) throw bad(arg, `more than ${MAX_BRACKET_TASKS} tasks`);
    for (let index = from; index <= to; index += 1) indices.push(index);
  }
  return indices;
}

function splitOutsideBrackets(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i += 1) {
    if (text[i] === '[') depth += 1;
    else if (text[i] === ']') depth -= 1;
    else if (text[i] === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

function bad(arg: string, why: string | undefined): UsageError {
  return new UsageError(`not a job: ${JSON.stringify(arg)}${why ? ` (${why})` : ''}`, { hint: SYNTAX });
}

/** How a reference is written back: `17`, `17_3`, `17-25`. */
export function formatJobRef(ref: JobRef): string {
  if (ref.kind === 'job') return String(ref.id);
  if (ref.kind === 'task') return `${ref.array}_${ref.index}`;
  return `${ref.from}-${ref.to}`;
}

/** What one reference names among the jobs: ids ascending; none when no job matches. */
export interface ResolvedRef {
  ref: JobRef;
  ids: number[];
  /** The ref named an array by its id (so its tasks are many, and a command may skip finished ones quietly). */
  array: boolean;
}

/**
 * Each reference against the known jobs (the state's and the intake's): a job id names that job,
 * or when it is an array's id every task of the array; a task names the job with that array id
 * and index; a range every job whose id lies in it. A job without `array` is no array's task.
 */
export function resolveJobRefs(refs: readonly JobRef[], jobs: readonly RefTarget[]): ResolvedRef[] {
  const tasks = new Map<number, number[]>();
  const byTask = new Map<string, number>();
  const ids = new Set<number>();
  for (const job of jobs) {
    ids.add(job.id);
    if (!job.array) continue;
    tasks.set(job.array.id, [...(tasks.get(job.array.id) ?? []), job.id]);
    byTask.set(`${job.array.id}_${job.array.index}`, job.id);
  }
  const sortedIds = [...ids].sort((a, b) => a - b);
  return refs.map((ref): ResolvedRef => {
    if (ref.kind === 'task') {
      const id = byTask.get(`${ref.array}_${ref.index}`);
      return { ref, ids: id === undefined ? [] : [id], array: false };
    }
    if (ref.kind === 'range') return { ref, ids: idsBetween(sortedIds, ref.from, ref.to), array: false };
    const members = tasks.get(ref.id);
    if (members && members.length > 0) return { ref, ids: [...new Set(members)].sort((a, b) => a - b), array: true };
    return { ref, ids: ids.has(ref.id) ? [ref.id] : [], array: false };
  });
}

/** The ids in [from, to] of an ascending list, found by bisection (a range may span millions of ids). */
function idsBetween(sorted: readonly number[], from: number, to: number): number[] {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (sorted[mid]! < from) low = mid + 1;
    else high = mid;
  }
  const found: number[] = [];
  for (let i = low; i < sorted.length && sorted[i]! <= to; i += 1) found.push(sorted[i]!);
  return found;
}

/** A task's name as q shows it (`17_3`), or the plain id of a job that is no task. */
export function jobLabel(job: RefTarget): string {
  return job.array ? `${job.array.id}_${job.array.index}` : String(job.id);
}
