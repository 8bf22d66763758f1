// Publish a file whole or not at all: write a temp name, fsync, rename, fsync the folder.
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { randomHex } from './random-hex.js';

export interface AtomicWriteOptions {
  mode?: number;
  /** Leave the data in the page cache (for files readers can rebuild, like the state cache). */
  noSync?: boolean;
}

export async function writeFileAtomic(file: string, data: string | Buffer, options: AtomicWriteOptions = {}): Promise<void> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${await randomHex(6)}.tmp`);
  const handle = await open(temp, 'wx', options.mode ?? 0o644);
  try {
    await handle.writeFile(data);
    if (options.mode !== undefined) await handle.chmod(options.mode); // umask must not narrow it
    if (!options.noSync) await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  if (!options.noSync) {
    const dirHandle = await open(dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  }
}
