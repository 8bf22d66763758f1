// Which jobs a user asked for: `-u`, `--me`, `--state`, `--name` of `dopq q` and `dopq rm`, as
// pure predicates over a job's user, state, name and hold. All given filters must match.
import { UsageError } from '../errors.js';
import type { JobState } from '../job/job.js';

/** A job state, or `held` (queued and held) and `active` (queued, building or running). */
export type StateFilter = JobState | 'held' | 'active';

export const STATE_FILTERS: readonly StateFilter[] = [
  'queued',
  'building',
  'running',
  'done',
  'failed',
  'cancelled',
  'rejected',
  'held',
  'active',
];

export interface JobFilter {
  /** Owners' names; absent: any owner. */
  users?: readonly string[];
  /** Absent: any state. */
  states?: readonly StateFilter[];
  /** A shell glob over the whole name (`*`, `?`, `[...]`). */
  name?: string;
}

/** What a filter looks at: fits both the state's records and q's job views. */
export interface FilterableJob {
  user: string;
  state: JobState;
  name: string;
  held_by?: string | null;
}

/** `queued,running`: the states, each checked; a wrong one is a usage error naming it. */
export function parseStateFilters(text: string): StateFilter[] {
  const states = text.split(',').map((s) => s.trim().toLowerCase());
  for (const state of states) {
    if (!(STATE_FILTERS as readonly string[]).includes(state)) {
      throw new UsageError(`not a job state: ${JSON.stringify(state)}; expected ${STATE_FILTERS.join(', ')} (comma-separated)`);
    }
  }
  return states as StateFilter[];
}

export function matchesState(job: FilterableJob, state: StateFilter): boolean {
  if (state === 'held') return job.state === 'queued' && Boolean(job.held_by);
  if (state === 'active') return job.state === 'queued' || job.state === 'building' || job.state === 'running';
  return job.state === state;
}

/** A predicate for `filter`; its glob is compiled once. */
export function jobFilter(filter: JobFilter): (job: FilterableJob) => boolean {
  const name = filter.name === undefined ? undefined : globPattern(filter.name);
  const users = filter.users === undefined ? undefined : new Set(filter.users);
  return (job) =>
    (users === undefined || users.has(job.user)) &&
    (filter.states === undefined || filter.states.some((state) => matchesState(job, state))) &&
    (name === undefined || name.test(job.name));
}

/** Whether the filter selects anything narrower than every job. */
export function isFiltering(filter: JobFilter): boolean {
  return filter.users !== undefined || filter.states !== undefined || filter.name !== undefined;
}

/**
 * A shell glob as a whole-string RegExp: `*` any run, `?` one character, `[abc]`, `[a-z]` and
 * `[!x]` one of (or none of) a set, `\` quotes the next character; everything else is literal.
 */
export function globPattern(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i += 1) {
    const c = glob[i]!;
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else if (c === '\\' && i + 1 < glob.length) source += escape(glob[++i]!);
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) source += '\\[';
      else {
        let set = glob.slice(i + 1, end);
        const negated = set.startsWith('!') || set.startsWith('^');
        if (negated) set = set.slice(1);
        source += `[${negated ? '^' : ''}${set.replaceAll('\\', '\\\\').replaceAll(']', '\\]')}]`;
        i = end;
      }
    } else source += escape(c);
  }
  try {
    return new RegExp(`^${source}$`, 's');
  } catch {
    throw new UsageError(`not a name pattern: ${JSON.stringify(glob)} (a set such as [z-a] runs backwards)`);
  }
}

const escape = (c: string) => c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
