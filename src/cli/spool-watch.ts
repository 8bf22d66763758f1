// Waking a command that waits on the spool (`wait`, `log -f`, `q --watch`) when the daemon
// writes there, without polling the disk hard: inotify on the folders (fs.watch), and a modest
// timer besides, since events can be missed (NFS) or the folders not watchable.
import { watch, type FSWatcher } from 'node:fs';

export interface SpoolWatch {
  /** Resolves at the next change in a watched folder, or after `intervalMs`, whichever comes first. */
  next(intervalMs: number): Promise<void>;
  close(): void;
}

export function watchFolders(folders: readonly string[]): SpoolWatch {
  let wake: (() => void) | undefined;
  let changed = false;
  const watchers: FSWatcher[] = [];
  for (const folder of folders) {
    try {
      const watcher = watch(folder, { persistent: false }, () => {
        changed = true;
        wake?.();
      });
      watcher.on('error', () => watcher.close());
      watchers.push(watcher);
    } catch {
      // Not watchable here (gone, no permission, no inotify): the timer alone wakes the caller.
    }
  }
  return {
    async next(intervalMs) {
      if (changed) {
        changed = false;
        return;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, intervalMs);
        function done() {
          clearTimeout(timer);
          wake = undefined;
          changed = false;
          resolve();
        }
        wake = done;
      });
    },
    close() {
      for (const watcher of watchers) watcher.close();
    },
  };
}
