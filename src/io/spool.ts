// The spool layout is the protocol between the CLI (run by any user) and the daemon (root).
// See man/dopq.1, section SPOOL.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readdir, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SpoolError } from '../core/errors.js';

export interface SpoolPaths {
  root: string;
  intake: string;
  requests: string;
  seqDir: string;
  seq: string;
  stateDir: string;
  state: string;
  daemonLock: string;
  daemonPid: string;
  jobs: string;
  logs: string;
}

export function spoolPaths(root: string): SpoolPaths {
  const stateDir = path.join(root, 'state');
  return {
    root,
    intake: path.join(root, 'intake'),
    requests: path.join(root, 'requests'),
    seqDir: path.join(root, 'seq'),
    seq: path.join(root, 'seq', 'seq'),
    stateDir,
    state: path.join(stateDir, 'state.json'),
    daemonLock: path.join(stateDir, 'daemon'),
    daemonPid: path.join(stateDir, 'daemon.pid'),
    jobs: path.join(root, 'jobs'),
    logs: path.join(root, 'logs'),
  };
}

// Who may do what: users drop files into intake/ and requests/ (sticky: nobody removes another's
// file), take numbers in seq/, and read state/ and their own logs; jobs/ (env values) is root's.
const LAYOUT: [keyof SpoolPaths, number][] = [
  ['intake', 0o1777],
  ['requests', 0o1777],
  ['seqDir', 0o777],
  ['stateDir', 0o755],
  ['jobs', 0o700],
  ['logs', 0o755],
];

/** Create the spool's folders with their modes (the daemon does this as root at start). */
export async function ensureSpoolLayout(spool: SpoolPaths): Promise<void> {
  try {
    await mkdir(spool.root, { recursive: true, mode: 0o755 });
    for (const [key, mode] of LAYOUT) {
      await mkdir(spool[key], { recursive: true, mode });
      await chmod(spool[key], mode);
    }
    const seq = await open(spool.seq, 'a', 0o666);
    await seq.chmod(0o666);
    await seq.close();
  } catch (error) {
    throw new SpoolError(spool.root, `cannot lay out the spool: ${(error as Error).message}`, { cause: error });
  }
}

/** Fails with advice unless the spool is laid out; root lays it out on the spot. */
export async function assertSpoolReady(spool: SpoolPaths): Promise<void> {
  try {
    await stat(spool.intake);
    await stat(spool.seq);
  } catch {
    if (process.getuid?.() === 0) return ensureSpoolLayout(spool);
    throw new SpoolError(spool.root, 'the spool is not set up', { hint: 'start `dopq run` once as root, which lays it out' });
  }
}

export const INTAKE_SUFFIX = '.job';
export const REQUEST_SUFFIX = '.req';

/** Dot-temp name, then rename into place: the daemon never sees a half-written file. */
export async function publish(dir: string, name: string, data: string, mode = 0o600): Promise<string> {
  const temp = path.join(dir, `.${name}.${randomBytes(6).toString('hex')}`);
  const final = path.join(dir, name);
  try {
    await writeFile(temp, data, { mode, flag: 'wx' });
    await rename(temp, final);
  } catch (error) {
    throw new SpoolError(dir, `cannot write into the spool: ${(error as Error).message}`, { cause: error });
  }
  return final;
}

/** Names in a drop folder that are complete (no dot-temps) and have the suffix. */
export async function listDropped(dir: string, suffix: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return names.filter((name) => !name.startsWith('.') && name.endsWith(suffix)).sort(byLeadingNumber);
}

function byLeadingNumber(a: string, b: string): number {
  return (parseInt(a, 10) || 0) - (parseInt(b, 10) || 0) || a.localeCompare(b);
}

export function jobIdOfIntakeName(name: string): number | undefined {
  const match = /^(\d+)\.job$/.exec(name);
  return match ? Number(match[1]) : undefined;
}
