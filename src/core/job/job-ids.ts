// Job numbers without a shared counter. A world-writable counter let one user poison or hold
// every push (a huge number, a lock folder kept fresh). Instead only the daemon writes the
// number it has taken in up to (the floor, seq/seq, root's), and each push claims the lowest
// number above it that no intake file holds, by an exclusive link: whoever squats numbers holds
// only those, like jobs they pushed, and costs the others a skipped name.
import { MAX_ARRAY_SIZE } from './array-spec.js';
import { MAX_JOB_ID } from './envelope.js';

/**
 * How far past the floor and the numbered files waiting in the intake a job number may lie and
 * still be taken as pushed: room for pushes racing each other between the daemon's listings and
 * for numbers claimed and given back. A number
 * further out was not picked by push (push takes the lowest free one) and is dropped unread, so
 * nobody can move the floor towards the end of the number range faster than by pushing jobs.
 */
export const ID_SLACK = 64;

/** The lowest job number above `floor` that no name in `taken` holds; undefined when none is left. */
export function freeJobId(floor: number, taken: ReadonlySet<number>): number | undefined {
  for (let id = floor + 1; id <= MAX_JOB_ID; id++) if (!taken.has(id)) return id;
  return undefined;
}

/** The highest job number the daemon takes as pushed, with `waiting` entries in the intake. */
export function highestPushedId(floor: number, waiting: number): number {
  return Math.min(MAX_JOB_ID, floor + waiting + ID_SLACK);
}

/** The floor as the daemon writes it (`<n>\n`); undefined for an empty or damaged file. */
export function parseIdFloor(text: string): number | undefined {
  if (!/^\d{1,10}\n?$/.test(text)) return undefined;
  const value = Number(text);
  return value <= MAX_JOB_ID ? value : undefined;
}

/** The (first) job number a name in the intake holds (`<n>.job`, `<n>.ctx`, `<first>-<last>.job`), as push writes them. */
export function idOfIntakeEntry(name: string): number | undefined {
  return numbersOfIntakeEntry(name)?.first;
}

/** The job numbers an intake name holds: one, or an array's `<first>-<last>.job` (at most MAX_ARRAY_SIZE). */
export function numbersOfIntakeEntry(name: string): { first: number; last: number } | undefined {
  const match = /^([1-9]\d{0,9})(?:-([1-9]\d{0,9}))?\.(job|ctx)$/.exec(name);
  if (!match) return undefined;
  const first = Number(match[1]);
  const last = match[2] === undefined ? first : Number(match[2]);
  if (match[2] !== undefined && (match[3] !== 'job' || last <= first || last - first + 1 > MAX_ARRAY_SIZE)) return undefined;
  return last <= MAX_JOB_ID ? { first, last } : undefined;
}

/** The intake name of a job file holding numbers `first`..`last` (an array's tasks), as push names it. */
export function intakeJobName(first: number, last = first): string {
  return first === last ? `${first}.job` : `${first}-${last}.job`;
}

/**
 * The lowest `size` consecutive free numbers above `floor`, none in `taken` (single numbers and
 * ranges); undefined when none are left.
 */
export function freeJobRange(floor: number, taken: readonly { first: number; last: number }[], size: number): number | undefined {
  let first = floor + 1;
  for (const range of [...taken].sort((a, b) => a.first - b.first)) {
    if (range.last < first) continue;
    if (range.first >= first + size) break;
    first = range.last + 1;
  }
  return first + size - 1 <= MAX_JOB_ID ? first : undefined;
}

/** Whether two ranges of job numbers share one. */
export function rangesOverlap(a: { first: number; last: number }, b: { first: number; last: number }): boolean {
  return a.first <= b.last && b.first <= a.last;
}
