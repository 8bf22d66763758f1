// Asks the kernel, as a given user, whether they may reach, read and write some paths: one setpriv
// process with their uid, gid and supplementary groups runs a fixed sh script over all of them.
// Node's spawn({uid, gid}) would drop the supplementary groups, and checking mode bits here would
// miss ACLs; the kernel's own answer for that user covers both.
import { execFile } from 'node:child_process';
import { helperArgs, parseHelperOutput, type AccessCheck, type Denial, type Identity } from '../../core/job/mount-access.js';

export const SETPRIV = '/usr/bin/setpriv';

/** A failed or hung helper: the paths were not checked, so callers must refuse, not allow. */
export class AccessCheckError extends Error {}

/** One denial (or undefined) per check, in order, as `identity` would meet them. */
export async function checkAccessAs(
  identity: Identity,
  checks: readonly AccessCheck[],
  timeoutMs = 10_000,
): Promise<(Denial | undefined)[]> {
  if (checks.length === 0) return [];
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      SETPRIV,
      helperArgs(identity, checks),
      // A fixed environment and cwd: nothing of the daemon's leaks into the user's process.
      { cwd: '/', env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' }, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1 << 20 },
      (error, out, err) => {
        if (error)
          reject(
            new AccessCheckError(
              `could not check access as ${identity.user}: ${error.killed ? `no answer within ${timeoutMs} ms` : err.trim() || error.message}`,
            ),
          );
        else resolve(out);
      },
    );
  });
  try {
    return parseHelperOutput(stdout, checks);
  } catch (error) {
    throw new AccessCheckError(`could not check access as ${identity.user}: ${(error as Error).message}`);
  }
}
