// Job numbers without a shared counter. A world-writable counter let one user poison or hold
// every push (a huge number, a lock folder kept fresh). Instead only the daemon writes the
// number it has taken in up to (the floor, seq/seq, root's), and each push claims the lowest
// number above it that no intake file holds, by an exclusive link: whoever squats numbers holds
// only those, like jobs they pushed, and costs the others a skipped name.
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

/** The job number a name in the intake holds (`<n>.job`, `<n>.ctx`), as push writes them. */
export function idOfIntakeEntry(name: string): number | undefined {
  const match = /^([1-9]\d{0,9})\.(?:job|ctx)$/.exec(name);
  const id = match ? Number(match[1]) : undefined;
  return id !== undefined && id <= MAX_JOB_ID ? id : undefined;
}
