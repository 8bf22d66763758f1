// Lines dopq adds to a job's own log (the engine's error at a failed start, say): the details
// only the job's owner may see, kept out of the world-readable state.
import { constants } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import path from 'node:path';

/** Append `text` to `file`, creating it as `uid`'s (0600) under a temp name first if missing. */
export async function appendToJobLog(file: string, uid: number, text: string): Promise<void> {
  let handle;
  try {
    handle = await open(file, constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const temp = path.join(path.dirname(file), `.${path.basename(file)}`);
    handle = await open(temp, 'w', 0o600);
    await handle.chown(uid, -1).catch(() => undefined);
    await handle.chmod(0o600);
    await rename(temp, file);
  }
  try {
    await handle.write(text.endsWith('\n') ? text : `${text}\n`);
  } finally {
    await handle.close();
  }
}
