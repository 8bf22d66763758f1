// Reading a file the user named on the command line (a manifest, a trace, a config): one set of
// refusals and one message form, `dopq: FILE: cannot read the manifest: no such file`, for every
// command. Runs as the user, so links are followed; the daemon reads spool files with safe-read.
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { DopqError, ExitCode } from '../../core/errors.js';

export interface UserFileOptions {
  /** The file as the message names it: `the manifest`, `the trace`, `the config`. */
  what: string;
  maxBytes: number;
  /** The setting that sets `maxBytes`, named when the file is over it. */
  limitName?: string;
  /** The exit code of every refusal, for a caller whose files are all one kind (78 for the config). */
  exitCode?: number;
  /** Advice for a file that cannot be opened; by default, what to do about its error code. */
  hint?: string;
  /** Another way out, added to that advice: `or pass --config FILE`. */
  alternative?: string;
}

// O_NONBLOCK: a FIFO named by mistake is refused below instead of hanging the command.
const FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

// The error codes a user meets, in words (the code itself for the rest), and what to do.
const REASON: Record<string, string> = {
  ENOENT: 'no such file',
  ENOTDIR: 'no such file (a part of the path is not a folder)',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a folder',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the name is too long',
};
const FIX: Record<string, string> = {
  ENOENT: 'check the path',
  ENOTDIR: 'check the path',
  EACCES: 'check the mode of the file and of its folders',
  EPERM: 'check the mode of the file and of its folders',
  EISDIR: 'name a file in it',
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
  const relative = path.isAbsolute(file) ? '' : ` (relative to ${process.cwd()})`;
  const fix = options.hint ?? (FIX[code] && `${FIX[code]}${code === 'ENOENT' ? relative : ''}`);
  const hint = [fix, options.alternative].filter(Boolean).join('; ');
  return new DopqError('no-input', options.exitCode ?? ExitCode.noSuchJob, `cannot read ${options.what}: ${REASON[code] ?? code}`, file, {
    ...(hint ? { hint } : {}),
  });
}

function refusal(code: string, message: string, file: string, options: UserFileOptions): DopqError {
  return new DopqError(code, options.exitCode ?? ExitCode.badInput, message, file);
}
