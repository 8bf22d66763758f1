// Arguments as the CLI reads them, checked where commander parses them (argParser), so every
// command gets numbers, never strings it must check again. A parser throws commander's
// InvalidArgumentError: commander names the option or argument, and program.ts exits 64.
import { InvalidArgumentError } from 'commander';
import { DopqError } from '../core/errors.js';
import { formatJobRef, parseJobArgument, type JobRef } from '../core/job/job-ref.js';
import { USER_NAME } from '../core/permissions.js';
import { parseDuration } from '../core/units.js';

/** For `<job...>`: `17`, `17_3`, `17-25`, `17,19` (core/job/job-ref.ts), collected over the arguments. */
export function collectJobRefs(text: string, previous: JobRef[] = []): JobRef[] {
  try {
    return [...previous, ...parseJobArgument(text)];
  } catch (error) {
    if (error instanceof DopqError) throw new InvalidArgumentError(`${error.message}; ${error.hint ?? ''}`);
    throw error;
  }
}

/** One job, for `log`: a job id or one task (`17_3`), never a range or a list. */
export function parseOneJobRef(text: string): JobRef {
  const refs = collectJobRefs(text);
  if (refs.length !== 1 || refs[0]!.kind === 'range') {
    throw new InvalidArgumentError(
      `one job only: ${JSON.stringify(text)} names ${refs.map(formatJobRef).join(', ')}; give a job id or a task (17_3)`,
    );
  }
  return refs[0]!;
}

/** One job by its id, for `attach`: a terminal is one job's, so no task, range or list. */
export function parseJobId(text: string): number {
  const ref = parseOneJobRef(text);
  if (ref.kind !== 'job')
    throw new InvalidArgumentError(`one job id: ${JSON.stringify(text)} names a task; give its job id (dopq q --expand)`);
  return ref.id;
}

/** `alice,bob` or one name: for `-u`, which may also repeat. */
export function collectUserNames(text: string, previous: string[] = []): string[] {
  return [...previous, ...text.split(',').map((name) => parseUserName(name.trim()))];
}

/** A whole number of at least `min`, for counts such as `--tail N`. */
export function countParser(min: number): (text: string) => number {
  return (text) => {
    if (!/^\d{1,9}$/.test(text) || Number(text) < min)
      throw new InvalidArgumentError(`not a whole number of at least ${min}: ${JSON.stringify(text)}`);
    return Number(text);
  };
}

/** Seconds from `30`, `90s` or `2m` (core/units' durations). */
export function parseSeconds(text: string): number {
  const seconds = parseDuration(text);
  if (seconds === undefined) throw new InvalidArgumentError(`not a duration: ${JSON.stringify(text)} (use seconds, e.g. 30, or 2m)`);
  return seconds;
}

/** Milliseconds since the epoch from an ISO 8601 date or time. */
export function parseDate(text: string): number {
  const time = Date.parse(text);
  if (Number.isNaN(time))
    throw new InvalidArgumentError(`not a date: ${JSON.stringify(text)} (use e.g. 2026-11-01 or 2026-11-01T12:00:00Z)`);
  return time;
}

/** `dopq report`'s dates: ISO 8601 (a bare date is midnight UTC), or an age such as 30d, 12h, 2w before now. */
export function parseReportDate(text: string): number {
  const age = /^(\d+)([hdw])$/.exec(text);
  if (age) return Date.now() - Number(age[1]) * { h: 3600, d: 86400, w: 7 * 86400 }[age[2] as 'h' | 'd' | 'w'] * 1000;
  return parseDate(text);
}

export function parseUserName(text: string): string {
  if (!USER_NAME.test(text)) throw new InvalidArgumentError(`not a user name: ${JSON.stringify(text)}`);
  return text;
}

/** A core parser whose usage errors become commander's, so they are reported with the option's name (exit 64). */
export function asArgParser<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (error) {
      if (error instanceof DopqError) throw new InvalidArgumentError(error.message);
      throw error;
    }
  };
}

/** `--watch [SECONDS]`: a positive duration, at least 0.1 s. */
export function parseInterval(text: string): number {
  const seconds = parseDuration(text);
  if (seconds === undefined || seconds < 0.1)
    throw new InvalidArgumentError(`not an interval: ${JSON.stringify(text)} (seconds, at least 0.1, e.g. 2 or 1m)`);
  return seconds;
}

/** `--listen host:port` (`[::1]:8080` for IPv6), as the config's `web.listen` takes it. */
export function parseListen(text: string): string {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  if (!match || Number(match[2]) > 65535)
    throw new InvalidArgumentError(`not host:port: ${JSON.stringify(text)} (e.g. 127.0.0.1:8080 or [::1]:8080)`);
  return text;
}
