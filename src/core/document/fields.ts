// Field types the config and the manifest share, so one kind of field is checked one way and
// says the same thing when it is wrong, whichever document it is in.
import path from 'node:path';
import * as z from 'zod';

/** A container or host path as the engine takes it: absolute, and no `..` to climb out of where it points. */
export function isAbsoluteWithoutDotDot(p: string): boolean {
  return path.posix.isAbsolute(p) && !p.split('/').includes('..');
}

/** A string field holding such a path; `what` names the field's purpose in the message. */
export const absolutePathSchema = (what: string) =>
  z.string({ error: `expected an absolute path for ${what}` }).refine(isAbsoluteWithoutDotDot, {
    error: `expected an absolute path without .. for ${what}`,
  });
