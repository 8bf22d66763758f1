// The state file: JSON written only by the daemon (temp file, fsync, rename) under a
// proper-lockfile lock; readers (`dopq q`) never lock, since each rename swaps in a whole file.
import { open, readFile } from 'node:fs/promises';
import lockfile from 'proper-lockfile';
import type { StateFile } from '../core/queue-view.js';
import { writeFileAtomic } from './atomic-write.js';

export function emptyState(): StateFile {
  return { version: 1, jobs: [], gpus: [], daemon: null, carried_usage: [] };
}

export async function readState(file: string): Promise<StateFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
    throw error;
  }
  if (text.trim() === '') return emptyState();
  const parsed = JSON.parse(text) as StateFile;
  return { ...emptyState(), ...parsed };
}

export interface StateWriter {
  write(state: StateFile): Promise<void>;
}

/**
 * Serialises writes within the process (proper-lockfile is not re-entrant) and takes the file
 * lock for each one, so a second writer (a stray `--once`) can never interleave with us.
 */
export function createStateWriter(file: string, onCompromised: (error: Error) => void): StateWriter {
  let chain: Promise<void> = Promise.resolve();
  let lastWritten = '';
  return {
    write(state) {
      const text = `${JSON.stringify(state)}\n`;
      if (text === lastWritten) return chain;
      lastWritten = text;
      const step = chain.then(async () => {
        await ensureFile(file);
        const release = await lockfile.lock(file, {
          stale: 30_000,
          realpath: false,
          retries: { retries: 100, minTimeout: 5, maxTimeout: 200 },
          onCompromised,
        });
        try {
          await writeFileAtomic(file, text, { mode: 0o644 });
        } finally {
          await release();
        }
      });
      chain = step.catch(() => undefined);
      return step;
    },
  };
}

async function ensureFile(file: string): Promise<void> {
  const handle = await open(file, 'a', 0o644);
  await handle.close();
}
