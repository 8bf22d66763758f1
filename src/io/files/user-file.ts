// Reading a file the user named on the command line (a manifest, a trace, a config): one set of
// refusals and one message form, `dopq: FILE: cannot read the manifest: ENOENT`, for every
// command. Runs as the user, so links are followed; the daemon reads spool files with safe-read.
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { DopqError, ExitCode } from '../../core/errors.js';

export interface UserFileOptions {
  /** The file as the message names it: `the manifest`, `the trace`, `the config`. */
  what: string;
  maxBytes: number;
  /** The setting that sets `maxBytes`, named when the file is over it. */
  limitName?: string;
  /** The exit code of every refusal, for a caller whose files are all one kind (78 for the config). */
  exitCode?: number;
  /** Advice for a file that cannot be opened; by default, what its error code means. */
  hint?: string;
}

// O_NONBLOCK: a FIFO named by mistake is refused below instead of hanging the command.
const FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

const EXPLAINED: Record<string, string> = {
  ENOENT: 'there is no such file: check the path',
  EACCES: 'you may not read it: check its mode and its folders',
  EISDIR: 'it is a folder: name a file in it',
};

/** The file's text, refused (DopqError naming the file) when it cannot be read, is not a regular file or is over `maxBytes`. */
export async function readUserFile(file: string, options: UserFileOptions): Promise<string> {
  let handle: FileHandle;
  try {
    handle = await open(file, FLAGS);
  } catch (error) {
    throw cannotRead(file, options, (error as NodeJS.ErrnoException).code ?? (error as Error).message);
  }
  try {
    const stat = await handle.stat();
    // Opening a folder read-only succeeds; reading it is what fails, so say it as a read would.
    if (stat.isDirectory()) throw cannotRead(file, options, 'EISDIR');
    if (!stat.isFile())
      throw refusal('no-input', `cannot read ${options.what}: not a regular file (a FIFO, device or socket)`, file, options);
    if (stat.size > options.maxBytes) {
      const limit = options.limitName ? ` (${options.limitName})` : '';
      throw refusal('too-large', `${options.what} is ${stat.size} bytes; the limit is ${options.maxBytes}${limit}`, file, options);
    }
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

function cannotRead(file: string, options: UserFileOptions, code: string): DopqError {
  const hint = options.hint ?? EXPLAINED[code];
  return new DopqError('no-input', options.exitCode ?? ExitCode.noSuchJob, `cannot read ${options.what}: ${code}`, file, {
    ...(hint ? { hint } : {}),
  });
}

function refusal(code: string, message: string, file: string, options: UserFileOptions): DopqError {
  return new DopqError(code, options.exitCode ?? ExitCode.badInput, message, file);
}
