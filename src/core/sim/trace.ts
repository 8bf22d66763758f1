// `dopq sim` traces: a machine, its users and a list of job arrivals, in YAML (dopq-sim(1)).
import * as z from 'zod';
import type { Config } from '../config/config.js';
import { durationSchema } from '../config/config.js';
import { InvalidDocumentError, type Issue } from '../errors.js';
import { USER_NAME } from '../permissions.js';
import { checkSchema } from '../document/schema-issues.js';
import { readYaml } from '../document/yaml-source.js';

export interface TraceJob {
  id: number;
  user: string;
  gpus: number;
  /** Seconds from the trace's start. */
  at: number;
  /** How long it would run, seconds; it is stopped at its time limit if that comes first. */
  duration: number;
  time_limit: number;
}

export interface Trace {
  gpus: number;
  shares: Map<string, number>;
  half_life: number;
  jobs: TraceJob[];
}

const userName = z.string().regex(USER_NAME, { error: 'expected a user name' });
const count = (what: string) =>
  z.number({ error: `expected a whole number of ${what}` }).int({ error: `expected a whole number of ${what}` });

const traceSchema = z.strictObject({
  gpus: count('GPUs').min(1, { error: 'a machine needs at least 1 GPU' }),
  users: z
    .record(userName, z.strictObject({ share: z.number({ error: 'expected a number' }).positive({ error: 'share must be more than 0' }) }))
    .default({}),
  half_life: durationSchema('half_life').optional(),
  jobs: z.array(
    z.strictObject({
      at: durationSchema('at').default(0),
      user: userName,
      gpus: count('GPUs').min(0, { error: 'GPUs cannot be negative' }).default(1),
      duration: durationSchema('duration'),
      time_limit: durationSchema('time_limit').optional(),
      count: count('copies').min(1, { error: 'count must be at least 1' }).default(1),
    }),
    { error: 'expected a list of jobs' },
  ),
});

/** Most jobs a trace may expand to, so a typo in `count` cannot exhaust memory. */
export const MAX_TRACE_JOBS = 2_000_000;

/** Parse a trace; time limits default to the config's and may not pass its maximum. */
export function parseTrace(text: string, file: string, config: Pick<Config, 'defaults' | 'limits' | 'penalty'>): Trace {
  const yaml = readYaml(text);
  if (!yaml.ok) throw new InvalidDocumentError('trace', file, yaml.issues);
  const parsed = checkSchema(traceSchema, yaml.source, yaml.source.value ?? {});
  if (!parsed.ok) throw new InvalidDocumentError('trace', file, parsed.issues);
  const raw = parsed.value;
  const issues: Issue[] = [];
  const jobs: TraceJob[] = [];
  let total = 0;
  raw.jobs.forEach((entry, i) => {
    const at = (field: string, message: string) =>
      issues.push({
        path: `jobs[${i}].${field}`,
        line: yaml.source.lineOf(['jobs', i, field]) ?? yaml.source.lineOf(['jobs', i]),
        message,
      });
    if (entry.gpus > raw.gpus) at('gpus', `the trace's machine has ${raw.gpus} GPUs, got ${entry.gpus}`);
    else if (entry.gpus > config.limits.gpus) at('gpus', `at most ${config.limits.gpus} GPUs per job (limits.gpus), got ${entry.gpus}`);
    else if (config.limits.per_user.gpus !== null && entry.gpus > config.limits.per_user.gpus) {
      at('gpus', `at most ${config.limits.per_user.gpus} GPUs per user at once (limits.per_user.gpus), got ${entry.gpus}`);
    }
    if (entry.time_limit !== undefined && entry.time_limit > config.limits.time_limit)
      at('time_limit', `at most ${config.limits.time_limit}s (limits.time_limit), got ${entry.time_limit}s`);
    total += entry.count;
    if (total > MAX_TRACE_JOBS) {
      if (total - entry.count <= MAX_TRACE_JOBS) at('count', `a trace may expand to at most ${MAX_TRACE_JOBS} jobs`);
      return;
    }
    for (let k = 0; k < entry.count; k++) {
      jobs.push({
        id: jobs.length + 1,
        user: entry.user,
        gpus: entry.gpus,
        at: entry.at,
        duration: entry.duration,
        time_limit: entry.time_limit ?? config.defaults.time_limit,
      });
    }
  });
  if (issues.length > 0) throw new InvalidDocumentError('trace', file, issues);
  return {
    gpus: raw.gpus,
    shares: new Map(Object.entries(raw.users).map(([user, { share }]) => [user, share])),
    half_life: raw.half_life ?? config.penalty.half_life,
    jobs,
  };
}
