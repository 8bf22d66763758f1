// limits.per_user.waiting_files: what one user may leave in the drop folders (intake/ and
// requests/ together), counted by owner with lstat before anything is read. Past the cap the
// user's newest entries are removed unread, so a flood of hand-written files costs the daemon
// one lstat each and its author their own files, never the others a slow pass.
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { numbersOfIntakeEntry } from '../../core/job/job-ids.js';
import { discardEntry } from '../../io/spool/spool.js';
import { userName } from '../../io/host/users.js';
import type { DaemonContext } from '../context.js';

interface Entry {
  file: string;
  uid: number;
  mtimeMs: number;
}

/**
 * Remove what each user holds past the cap. Returns how many job numbers intake names held
 * before that (`<n>.job`, `<n>.ctx`, an array's `<first>-<last>.job` all of its): pushes picked
 * their numbers with those present, so they bound the numbers the daemon takes as pushed
 * (core/job-ids.ts).
 */
export async function enforceWaitingCap(ctx: DaemonContext): Promise<{ numberedEntries: number }> {
  const cap = ctx.config.limits.per_user.waiting_files;
  const folders = await Promise.all(
    [ctx.spool.intake, ctx.spool.requests].map(async (dir) => ({ dir, names: await readdir(dir).catch(() => [] as string[]) })),
  );
  const numberedEntries = folders[0]!.names.reduce((sum, name) => {
    const numbers = numbersOfIntakeEntry(name);
    return numbers ? sum + numbers.last - numbers.first + 1 : sum;
  }, 0);
  // Nobody can be over the cap when all entries together are not: the usual case costs no lstat.
  if (folders.reduce((sum, { names }) => sum + names.length, 0) <= cap) return { numberedEntries };
  const byUid = new Map<number, Entry[]>();
  const paths = folders.flatMap(({ dir, names }) => names.map((name) => path.join(dir, name)));
  // In parallel batches: one at a time, thousands of lstats queue behind the watcher's events.
  const infos = await inBatches(paths, (file) => lstat(file).catch(() => undefined));
  paths.forEach((file, i) => {
    const info = infos[i];
    if (!info || info.uid === 0) return; // gone meanwhile; root's own are trusted
    let entries = byUid.get(info.uid);
    if (!entries) byUid.set(info.uid, (entries = []));
    entries.push({ file, uid: info.uid, mtimeMs: info.mtimeMs });
  });
  for (const [uid, entries] of byUid) {
    if (entries.length <= cap) continue;
    // The newest go: the oldest were pushed first and are read first.
    const excess = entries.sort((a, b) => a.mtimeMs - b.mtimeMs || a.file.localeCompare(b.file)).slice(cap);
    const done = await inBatches(excess, (entry) => discardEntry(entry.file, ctx.spool.rejected).catch(() => 'kept' as const));
    const removed = done.filter((outcome) => outcome === 'removed' || outcome === 'moved').length;
    ctx.log.error(
      `removed ${removed} of ${await userName(uid)}'s ${entries.length} files in intake/ and requests/ unread: at most ${cap} per user (limits.per_user.waiting_files)`,
    );
  }
  return { numberedEntries };
}

/** `action` over `items`, 64 at a time, results in order. */
async function inBatches<T, R>(items: readonly T[], action: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += 64) results.push(...(await Promise.all(items.slice(i, i + 64).map(action))));
  return results;
}
