// What a run leaves behind when it dies too hard for its own clean-up (SIGKILL, a test
// timeout): its engine, its daemon, its mount. Each run writes its pid into its folder and keeps
// the file fresh; the next run removes the folders of runs whose process is gone and whose file
// went stale (a harness in another pid namespace is invisible, but keeps its file fresh).
import { readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { privateEngine } from './engine.js';
import { removeTree } from './small-fs.js';

export const RUNS_DIR = '/tmp';
export const RUN_PREFIX = 'dopq-chaos-';
const OWNER = 'harness.pid';
const HEARTBEAT_MS = 5000;
const STALE_MS = 30_000;

/** Mark `dir` as this process's run; returns the function that stops the heartbeat. */
export async function claimRun(dir: string): Promise<() => void> {
  const file = path.join(dir, OWNER);
  await writeFile(file, `${process.pid}\n`);
  const timer = setInterval(() => {
    const now = new Date();
    void utimes(file, now, now).catch(() => undefined);
  }, HEARTBEAT_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** Remove the leftovers of runs whose harness died; returns the folders removed. */
export async function sweepDeadRuns(): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(RUNS_DIR)) {
    if (!name.startsWith(RUN_PREFIX)) continue;
    const dir = path.join(RUNS_DIR, name);
    const file = path.join(dir, OWNER);
    const owner = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(owner) || owner <= 0 || alive(owner)) continue;
    const fresh = await stat(file).then(
      (info) => Date.now() - info.mtimeMs < STALE_MS,
      () => true,
    );
    if (fresh) continue;
    for (const pid of await processesUsing(dir)) process.kill(pid, 'SIGKILL');
    await privateEngine(path.join(dir, 'engine'))
      .stop()
      .catch(() => undefined);
    await removeTree(dir).catch(() => undefined);
    removed.push(dir);
  }
  return removed;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Daemons and CLIs started from the run's own copy of the build (`<dir>/app/...`). */
async function processesUsing(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').some((arg) => arg.startsWith(`${dir}/app/`))) pids.push(Number(entry));
  }
  return pids;
}
