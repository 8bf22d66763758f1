// Jobs pushed but not yet read by the daemon, as any user may list them: the owner from each
// intake file's uid, and the details where the caller may read the file (their own jobs).
import { constants } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import path from 'node:path';
import { decodeEnvelope } from '../../core/job/envelope.js';
import { summarizeManifest } from '../../core/job/manifest-summary.js';
import type { PendingJob } from '../../core/state.js';
import { jobIdOfIntakeName } from './spool.js';
import { userName } from '../host/users.js';

/** Jobs pushed but not yet read by the daemon: owner from the file, details if we may read it. */
export async function pendingJobs(intake: string): Promise<PendingJob[]> {
  let names: string[];
  try {
    names = await readdir(intake);
  } catch {
    return [];
  }
  const jobs = await Promise.all(
    names.map(async (name): Promise<PendingJob | undefined> => {
      const id = jobIdOfIntakeName(name);
      if (id === undefined) return undefined;
      const file = path.join(intake, name);
      try {
        const info = await lstat(file);
        if (!info.isFile()) return undefined; // the daemon refuses links, FIFOs and devices
        const job: PendingJob = { id, uid: info.uid, user: await userName(info.uid), submitted_at: info.mtimeMs };
        const details = await readEnvelopeIfAllowed(file);
        return details ? { ...job, ...details } : job;
      } catch {
        return undefined; // ingested meanwhile
      }
    }),
  );
  return jobs.filter((job): job is PendingJob => job !== undefined);
}

async function readEnvelopeIfAllowed(file: string): Promise<{ submitted_at: number; name?: string; gpus_requested?: number } | undefined> {
  try {
    // Never follow a link or block on a FIFO swapped in after the lstat.
    const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const envelope = decodeEnvelope(await handle.readFile('utf8'));
      if ('error' in envelope) return undefined;
      const summary = summarizeManifest(envelope.manifest);
      const name = summary.name ?? path.basename(envelope.source).replace(/\.(ya?ml|json)$/i, '');
      return { submitted_at: envelope.submitted_at, name, ...(summary.gpus !== undefined ? { gpus_requested: summary.gpus } : {}) };
    } finally {
      await handle.close();
    }
  } catch {
    return undefined; // another user's job: private
  }
}
