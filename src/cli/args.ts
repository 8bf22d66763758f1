// Arguments as the CLI reads them, checked where commander parses them (argParser), so every
// command gets numbers, never strings it must check again. A parser throws commander's
// InvalidArgumentError: commander names the option or argument, and program.ts exits 64.
import { InvalidArgumentError } from 'commander';
import { USER_NAME } from '../core/permissions.js';
import { parseDuration } from '../core/units.js';

/** A job id as typed: digits only (no signs, exponents or spaces). */
export function parseJobId(text: string): number {
  if (!/^\d+$/.test(text)) throw new InvalidArgumentError(`not a job id: ${JSON.stringify(text)}`);
  return Number(text);
}

/** For `<id...>`: commander calls it once per id, passing the ids parsed so far. */
export function collectJobIds(text: string, previous: number[] = []): number[] {
  return [...previous, parseJobId(text)];
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

export function parseUserName(text: string): string {
  if (!USER_NAME.test(text)) throw new InvalidArgumentError(`not a user name: ${JSON.stringify(text)}`);
  return text;
}
