// Jobs pushed but not yet read by the daemon, as any user may list them: the owner from each
// intake file's uid, and the details where the caller may read the file (their own jobs).
import { jobNameFromFile } from '../../core/job/file-name.js';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { decodeEnvelope } from '../../core/job/envelope.js';
import { summarizeManifest } from '../../core/job/manifest-summary.js';
import type { PendingJob } from '../../core/state.js';
import { readOwnedFile } from '../files/safe-read.js';
import { jobRangeOfIntakeName } from './spool.js';
import { userName } from '../host/users.js';

/**
 * The largest job file worth reading for `manifestBytes` of manifest: the envelope's JSON escapes
 * (at most 6 bytes a byte, `\u0000`) and its other fields. The daemon's intake allows the same.
 */
export function intakeFileMaxBytes(manifestBytes: number): number {
  return manifestBytes * 6 + 4096;
}

/** The cap for callers without the config's: a job file of a 170 KiB manifest, escaped. */
const DEFAULT_MAX_BYTES = 1024 * 1024;

/**
 * Jobs pushed but not yet read by the daemon: owner from the file, details if we may read it
 * and it is at most `maxBytes` (a larger one is listed by owner only: the daemon will refuse it).
 */
export async function pendingJobs(
  intake: string,
  maxBytes = DEFAULT_MAX_BYTES,
  /** false: read no file, list every job by owner only (what any other user sees of it). */
  details = true,
): Promise<PendingJob[]> {
  let names: string[];
  try {
    names = await readdir(intake);
  } catch {
    return [];
  }
  const jobs = await Promise.all(
    names.map(async (name): Promise<PendingJob | undefined> => {
      const range = jobRangeOfIntakeName(name);
      if (range === undefined) return undefined;
      const id = range.first;
      const file = path.join(intake, name);
      try {
        const info = await lstat(file);
        if (!info.isFile()) return undefined; // the daemon refuses links, FIFOs and devices
        const job: PendingJob = {
          id,
          uid: info.uid,
          user: await userName(info.uid),
          submitted_at: info.mtimeMs,
          ...(range.last > id ? { tasks: range.last - id + 1 } : {}),
        };
        const read = details ? await readEnvelopeIfAllowed(file, maxBytes) : undefined;
        return read ? { ...job, ...read } : job;
      } catch {
        return undefined; // ingested meanwhile
      }
    }),
  );
  return jobs.filter((job): job is PendingJob => job !== undefined);
}

async function readEnvelopeIfAllowed(
  file: string,
  maxBytes: number,
): Promise<{ submitted_at: number; name?: string; gpus_requested?: number } | undefined> {
  let text: string;
  try {
    // Never follows a link, blocks on a FIFO swapped in after the lstat, or reads past maxBytes.
    text = (await readOwnedFile(file, maxBytes)).text;
  } catch {
    return undefined; // another user's job (private), oversize, or swapped while read
  }
  const envelope = decodeEnvelope(text);
  if ('error' in envelope) return undefined;
  const summary = summarizeManifest(envelope.manifest);
  const name = summary.name ?? jobNameFromFile(path.basename(envelope.source));
  return { submitted_at: envelope.submitted_at, name, ...(summary.gpus !== undefined ? { gpus_requested: summary.gpus } : {}) };
}
