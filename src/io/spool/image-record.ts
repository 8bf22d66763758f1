// The record of which image IDs dopq built or loaded for which user (state/images.json): root's
// alone (0600), written whole (temp, fsync, rename) by the daemon, never by users or from labels.
import { readFile } from 'node:fs/promises';
import { emptyImageRecord, type ImageRecord } from '../../core/job/image-ownership.js';
import { writeFileAtomic } from '../files/atomic-write.js';

/**
 * The record, or an empty one when there is none yet. One that cannot be read is an error: an
 * empty record would make every job image nobody's, which refuses them all (safe) but silently.
 */
export async function readImageRecord(file: string): Promise<ImageRecord> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyImageRecord();
    throw error;
  }
  const parsed = JSON.parse(text) as Partial<ImageRecord>;
  if (parsed.version !== 1 || !Array.isArray(parsed.images)) throw new Error(`${file}: not an image record (version 1)`);
  return { version: 1, images: parsed.images };
}

export function writeImageRecord(file: string, record: ImageRecord): Promise<void> {
  return writeFileAtomic(file, `${JSON.stringify(record)}\n`, { mode: 0o600 });
}
