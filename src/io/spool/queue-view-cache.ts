// `dopq q`'s view as the daemon built it after its last save (state/queue-view.json), so that `q`
// on a long queue prints it instead of parsing the whole state and planning the queue again.
// Line 1 says what the view was built from, line 2 is the view. A reader takes it only while all
// of that still holds; otherwise `q` builds the view itself, from the state, as it always did.
import { readFile } from 'node:fs/promises';
import type { Config } from '../../core/config/config.js';
import type { QueueView } from '../../core/view/queue-view.js';
import { writeFileAtomic } from '../files/atomic-write.js';
import type { DaemonStatus } from './daemon-status.js';
import { sameGeneration, type StateGeneration } from './state-store.js';

/** What a cached view was built from. */
export interface QueueViewBasis {
  /** The state.json in place when it was built. */
  generation: StateGeneration;
  /** The config it was built with (configPrint): the whole of it, not a hash, so q loads no crypto. */
  config: string;
  /** What the status file said then, all of it: the view shows its engine, save and reload news. */
  status: DaemonStatus;
  /** When (ms): what depends on the clock (estimates, penalties' decay) was reckoned then. */
  at: number;
}

/**
 * Whose config a view was built with: the caller's `--config` may not be the daemon's. The
 * daemon's is the same file read the same way, then fitted to the host (fit-host.ts: defaults
 * lowered, the host's figures added), which q cannot do (only the daemon asks the engine); a view
 * uses the defaults only for jobs the daemon has not read, and q takes no view while there are any.
 */
export function configPrint(config: Config): string {
  const { defaults: _defaults, host: _host, ...read } = config;
  return JSON.stringify(read);
}

/** A cache, not a record: readers rebuild the view when it is missing or torn, so no fsync. */
export async function writeQueueViewCache(file: string, basis: QueueViewBasis, view: QueueView): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(basis)}\n${JSON.stringify(view)}\n`, { mode: 0o644, noSync: true });
}

/** What a reader sees now; the cached view serves only when it was built from all of it. */
export interface QueueViewNow {
  generation: StateGeneration;
  config: string;
  status: DaemonStatus;
  now: number;
  /** How old a view may be: the daemon rebuilds it at least once per pass. */
  maxAgeMs: number;
}

/**
 * A cached view: `json` is the line the daemon wrote, what `dopq q --json` prints, as bytes (at
 * 10,000 jobs decoding 3.8 MB only to encode it again for stdout was a tenth of q's own time).
 */
export interface CachedQueueView {
  json: Uint8Array;
  view(): QueueView;
}

/** The cached view, if it was built from exactly what `current` says; else undefined. */
export async function readQueueViewCache(file: string, current: QueueViewNow): Promise<CachedQueueView | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch {
    return undefined;
  }
  const cut = bytes.indexOf(0x0a);
  // Whole: the view's line ends the file (a file cut short is rebuilt, not printed).
  if (cut < 0 || bytes.length < 2 || bytes.at(-2) !== 0x7d || bytes.at(-1) !== 0x0a) return undefined;
  let basis: QueueViewBasis;
  try {
    basis = JSON.parse(bytes.subarray(0, cut).toString('utf8')) as QueueViewBasis;
  } catch {
    return undefined; // foreign: build the view instead
  }
  if (!builtFrom(basis, current)) return undefined;
  const json = bytes.subarray(cut + 1);
  return { json, view: () => JSON.parse(json.toString('utf8')) as QueueView };
}

function builtFrom(basis: QueueViewBasis, current: QueueViewNow): boolean {
  return (
    typeof basis === 'object' &&
    basis !== null &&
    typeof basis.generation === 'object' &&
    sameGeneration(basis.generation, current.generation) &&
    basis.config === current.config &&
    JSON.stringify(basis.status) === JSON.stringify(current.status) &&
    current.now - basis.at <= current.maxAgeMs &&
    basis.at <= current.now + 1000
  );
}
