// The state file: JSON written only by the daemon (temp file, fsync, rename) under a
// proper-lockfile lock; readers (`dopq q`) never lock, since each rename swaps in a whole file.
// Before each rename the generation in place becomes `state.json.prev` (a second name for the
// same file, no copy), so `dopq init --repair` always has a whole generation the daemon wrote.
import type { Stats } from 'node:fs';
import { link, lstat, open, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { DopqError, ExitCode } from '../../core/errors.js';
import type { StateFile } from '../../core/state.js';
import { writeFileAtomic } from '../files/atomic-write.js';
import { randomHex } from '../files/random-hex.js';

export const REPAIR_HINT = 'as root, `dopq init --repair` puts back the last generation the daemon wrote (state.json.prev)';

/**
 * A state file the daemon cannot have written. 78, as for an unsafe spool: the admin must act,
 * and a supervisor restarting the daemon (what 70 invites) cannot help.
 */
export class DamagedStateError extends DopqError {
  constructor(subject: string, message: string, hint = REPAIR_HINT) {
    super('damaged-state', ExitCode.config, message, subject, { hint });
    this.name = 'DamagedStateError';
  }
}

export function emptyState(): StateFile {
  return { version: 1, jobs: [], gpus: [], daemon: null, carried_usage: [] };
}

export function previousPath(file: string): string {
  return `${file}.prev`;
}

export type StateCheck =
  | { kind: 'ok'; state: StateFile; text: string; mtimeMs: number }
  | { kind: 'missing' }
  | { kind: 'empty' }
  | { kind: 'damaged'; problem: string };

/** What `file` holds, damage included, without throwing for it (read errors still throw). */
export async function checkStateFile(file: string): Promise<StateCheck> {
  let text: string;
  let info: Stats;
  try {
    const handle = await open(file, 'r');
    try {
      info = await handle.stat();
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw error;
  }
  if (text.trim() === '') return { kind: 'empty' };
  const parsed = parseState(text);
  return typeof parsed === 'string' ? { kind: 'damaged', problem: parsed } : { kind: 'ok', state: parsed, text, mtimeMs: info.mtimeMs };
}

/**
 * The state, or empty when there is none yet. Missing or empty while a previous generation
 * exists is damage: the daemon only ever replaces the file whole.
 */
export async function readState(file: string): Promise<StateFile> {
  const check = await checkStateFile(file);
  if (check.kind === 'ok') return check.state;
  if (check.kind === 'damaged') throw new DamagedStateError(file, `damaged: ${check.problem}`);
  if (!(await exists(previousPath(file)))) return emptyState();
  throw new DamagedStateError(file, `damaged: ${check.kind}, though ${path.basename(previousPath(file))} exists (the daemon only replaces it whole)`);
}

/** The state in `text`, or what is wrong with it. */
export function parseState(text: string): StateFile | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const reason = (error as Error).message;
    if (/end of JSON|Unterminated/i.test(reason)) return `truncated: the JSON ends early, after ${Buffer.byteLength(text)} bytes`;
    // The parser quotes the text: escape its control characters (newlines, terminal escapes).
    return `not JSON (${reason.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => (c === '\n' ? '\\n' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`))})`;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return `not a state: the JSON is ${describe(parsed)}, not an object`;
  const state = parsed as Record<string, unknown>;
  if (state['version'] !== 1) return `not a state: version is ${describe(state['version'])}, expected 1`;
  if (!Array.isArray(state['jobs'])) return `not a state: "jobs" is ${describe(state['jobs'])}, expected a list`;
  const bad = state['jobs'].findIndex((job: unknown) => !isJobLike(job));
  if (bad >= 0) return `not a state: jobs[${bad}] is not a job (a number "id" and a string "state")`;
  if (state['gpus'] !== undefined && !Array.isArray(state['gpus'])) return `not a state: "gpus" is ${describe(state['gpus'])}, expected a list`;
  return { ...emptyState(), ...(state as unknown as StateFile) };
}

function isJobLike(job: unknown): boolean {
  const record = job as Record<string, unknown> | null;
  return typeof record === 'object' && record !== null && Number.isInteger(record['id']) && typeof record['state'] === 'string';
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return JSON.stringify(value).slice(0, 40);
}

/**
 * `dopq init --repair`: keep the damaged file as `state.json.damaged-<time>` and put `text` (the
 * previous generation, already checked) in its place. state.json is at every moment either the
 * damaged file or the restored one. Returns the name the damaged file was kept under.
 */
export async function restoreState(file: string, text: string, now: Date): Promise<string | undefined> {
  const aside = `${file}.damaged-${now.toISOString()}`;
  let kept: string | undefined = aside;
  try {
    await link(file, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    kept = undefined;
  }
  await writeFileAtomic(file, text, { mode: 0o644 });
  return kept;
}

/** Which file state.json is: each save puts a new one in place (a new inode), so this names a generation. */
export interface StateGeneration {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

function generationOf(info: Stats): StateGeneration {
  return { dev: info.dev, ino: info.ino, size: info.size, mtimeMs: info.mtimeMs };
}

/** The generation of the state in place, or undefined when there is none. */
export async function stateGeneration(file: string): Promise<StateGeneration | undefined> {
  return stat(file).then(generationOf, () => undefined);
}

export function sameGeneration(a: StateGeneration, b: StateGeneration): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

export interface StateWriter {
  write(state: StateFile): Promise<void>;
  /** The generation this writer last put in place (unknown before its first write). */
  generation(): StateGeneration | undefined;
}

/**
 * Serialises writes within the process (proper-lockfile is not re-entrant) and takes the file
 * lock for each one, so a second writer (a stray `--once`) can never interleave with us.
 */
export function createStateWriter(file: string, onCompromised: (error: Error) => void): StateWriter {
  let chain: Promise<void> = Promise.resolve();
  let lastWritten = '';
  let ours: Stats | undefined; // the file this writer last put in place
  return {
    generation: () => (ours ? generationOf(ours) : undefined),
    write(state) {
      const text = `${JSON.stringify(state)}\n`;
      if (text === lastWritten) return chain;
      lastWritten = text;
      const step = chain.then(async () => {
        await ensureFile(file);
        // Loaded here, by the daemon only: readers (`dopq q`, `push`) never lock, and proper-lockfile
        // brings graceful-fs, which patches fs as it loads.
        const { default: lockfile } = await import('proper-lockfile');
        const release = await lockfile.lock(file, {
          stale: 30_000,
          realpath: false,
          retries: { retries: 100, minTimeout: 5, maxTimeout: 200 },
          onCompromised,
        });
        try {
          await keepPrevious(file, ours);
          await writeFileAtomic(file, text, { mode: 0o644 });
          ours = await stat(file).catch(() => undefined); // unknown: the next write checks the file
        } finally {
          await release();
        }
      });
      chain = step.catch(() => undefined);
      return step;
    },
  };
}

/**
 * Name the generation in place `state.json.prev`, if it is one this writer put there (on the
 * first write: if it reads as a state), so that `.prev` is always a whole file the daemon wrote.
 * Best effort: failing to keep the old generation must not stop the new one.
 */
async function keepPrevious(file: string, ours: Stats | undefined): Promise<void> {
  const current = await lstat(file).catch(() => undefined);
  if (!current?.isFile() || current.size === 0) return;
  const whole = async () => (await checkStateFile(file).catch(() => undefined))?.kind === 'ok';
  if (ours ? current.ino !== ours.ino || current.dev !== ours.dev : !(await whole())) return;
  const prev = previousPath(file);
  const temp = path.join(path.dirname(file), `.${path.basename(prev)}.${await randomHex(6)}.tmp`);
  try {
    await link(file, temp);
    await rename(temp, prev); // the folder's fsync in writeFileAtomic makes both names durable
  } catch {
    // Nothing to do: the next write tries again.
  } finally {
    // rename() of two names of one file (a write that failed after this) leaves both in place.
    await unlink(temp).catch(() => undefined);
  }
}

async function exists(file: string): Promise<boolean> {
  return lstat(file).then(
    () => true,
    () => false,
  );
}

async function ensureFile(file: string): Promise<void> {
  const handle = await open(file, 'a', 0o644);
  await handle.close();
}
