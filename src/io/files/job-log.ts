// A job's log in the spool: what the job prints, bounded by limits.log_size and by the free
// space limits.log_min_free keeps on the spool's disk, and lines dopq adds (the engine's error at
// a failed start, say): the details only the job's owner may see, kept out of the world-readable
// state.
import { constants } from 'node:fs';
import { open, rename, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { outputCutMarker } from '../../core/job/container-spec.js';
import { freeBytes } from './disk.js';
import { readableSize } from '../../core/units.js';

/** Append `text` to `file`, creating it as `uid`'s (0600) under a temp name first if missing. */
export async function appendToJobLog(file: string, uid: number, text: string): Promise<void> {
  let handle;
  try {
    handle = await open(file, constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    handle = await createOwned(file, uid);
  }
  try {
    await handle.write(text.endsWith('\n') ? text : `${text}\n`);
  } finally {
    await handle.close();
  }
}

/** The job's log, made its owner's if missing (Slurm opens it as the owner, who cannot create it in logs/). */
export async function ensureJobLog(file: string, uid: number): Promise<void> {
  try {
    await (await open(file, constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW)).close();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    await (await createOwned(file, uid)).close();
  }
}

// Made the owner's under a temp name and renamed, so `dopq log -f` never opens it while it is
// still root's.
async function createOwned(file: string, uid: number): Promise<FileHandle> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}`);
  const handle = await open(temp, 'w+', 0o600);
  await handle.chown(uid, -1).catch(() => undefined);
  await handle.chmod(0o600);
  await rename(temp, file);
  return handle;
}

export interface OutputLimits {
  /** limits.log_size: bytes of output kept; past it one marker line, the rest dropped. */
  size: number;
  /** limits.log_min_free: below this much free on `root`'s file system, output is dropped. */
  minFree: number;
  /** The spool's root: its file system is the one the log fills. */
  root: string;
  /** Why saving stopped or went on again, for the daemon's own log. */
  onChange?: (message: string) => void;
}

/**
 * Beside a job's log, `<log>.times`: a line `<ms> <offset>` the first time output is saved in
 * each second, so `dopq log --since` finds where the last minutes begin without timestamps in
 * the output itself. Kept as the log is (the owner's, 0600); best effort: a failed write costs
 * only `--since`'s precision.
 */
export function logTimesFile(log: string): string {
  return `${log}.times`;
}

/**
 * Save everything `source` gives (a container's output) into `file`, owned by `uid` (0600); an
 * existing file (an adopted job's log, whose output the engine replays) is rewritten. Resolves
 * when the source ends. Every byte is read whatever happens to the file, so a job whose output
 * is attached never waits on the log: what cannot be saved is dropped and marked.
 */
export async function saveJobOutput(
  source: NodeJS.ReadableStream,
  file: string,
  uid: number,
  limits: OutputLimits,
  { append = false }: { append?: boolean } = {},
): Promise<void> {
  const size = await stat(file).then(
    (info) => info.size,
    () => undefined,
  );
  // `append` (a Slurm job's log, which Slurm appends its own lines to): kept, and written after.
  const mode = append ? constants.O_APPEND : constants.O_TRUNC;
  const handle = size !== undefined ? await open(file, constants.O_RDWR | mode | constants.O_NOFOLLOW) : await createOwned(file, uid);
  const times = await openTimes(logTimesFile(file), uid, append);
  const log = new GuardedLog(handle, limits, times, append ? (size ?? 0) : 0);
  try {
    await new Promise<void>((resolve, reject) => {
      source.on('data', (chunk: Buffer) => log.push(chunk));
      source.on('end', resolve);
      source.on('close', resolve);
      source.on('error', reject);
    });
  } finally {
    await log.flush();
    await handle.close();
    await times?.close().catch(() => undefined);
  }
}

async function openTimes(file: string, uid: number, keep = false): Promise<FileHandle | undefined> {
  try {
    return await open(file, constants.O_WRONLY | (keep ? 0 : constants.O_TRUNC) | constants.O_APPEND | constants.O_NOFOLLOW);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return undefined;
    return createOwned(file, uid).catch(() => undefined);
  }
}

/** Free space is looked at again after this many bytes saved (one statfs, not one per chunk)... */
const CHECK_BYTES = 4 * 1024 ** 2;
/** ...or after this long, which is also how soon saving resumes once space came back. */
const CHECK_MS = 2000;
/** Bytes of a log's tail given up, back to a line's end, when even a marker line finds no room. */
const MARKER_ROOM = 64 * 1024;

type Saving = 'on' | 'low' | 'cut' | 'broken';

// Chunks are queued and written in order by one loop, coalesced while a write is under way.
class GuardedLog {
  private pending: Buffer[] = [];
  private writing: Promise<void> | undefined;
  private state: Saving = 'on';
  private size = 0;
  private endsLine = true;
  /** Where the last whole line saved ends: a cut goes back to it, so only whole lines precede the marker. */
  private lineEnd = 0;
  private sinceCheck = 0;
  private checkedAt = Number.NEGATIVE_INFINITY;
  private dropped = 0;
  /** Whether what was dropped last ended a line; else saving resumes at the next line. */
  private droppedEndsLine = true;
  private trimmed = false;

  /** The second of the last line in the times file. */
  private timedSecond = -1;

  constructor(
    private readonly handle: FileHandle,
    private readonly limits: OutputLimits,
    private readonly times?: FileHandle,
    initialSize = 0,
  ) {
    this.size = initialSize;
    this.lineEnd = initialSize;
  }

  push(chunk: Buffer): void {
    if (this.state === 'cut' || this.state === 'broken' || chunk.length === 0) return;
    this.pending.push(chunk);
    this.writing ??= this.drain();
  }

  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = Buffer.concat(this.pending);
        this.pending = [];
        await this.save(batch).catch((error: unknown) => this.stop('broken', `the log cannot be written (${errorCode(error)})`));
      }
    } finally {
      this.writing = undefined; // no await since the loop saw nothing pending: no chunk is missed
    }
  }

  private async save(whole: Buffer): Promise<void> {
    await this.checkRoom();
    if (this.state === 'low') return this.drop(whole);
    if (this.state !== 'on') return;
    let batch = whole;
    if (!this.droppedEndsLine) {
      // Resumed: the rest of a line whose start was dropped is dropped too.
      const newline = batch.indexOf(0x0a);
      this.drop(newline < 0 ? batch : batch.subarray(0, newline + 1));
      batch = batch.subarray(newline + 1);
      if (newline < 0 || batch.length === 0) return;
    }
    const room = this.limits.size - this.size;
    const kept = batch.length <= room ? batch : cutAtLine(batch.subarray(0, Math.max(0, room)), this.endsLine && this.size > 0);
    const start = this.size;
    await this.noteTime(start);
    try {
      await this.write(kept, true);
    } catch (error) {
      if (!isNoSpace(error)) throw error;
      this.drop(batch.subarray(this.size - start));
      await this.stop('low', "the spool's disk is full");
      return;
    }
    this.sinceCheck += kept.length;
    if (kept !== batch) {
      this.state = 'cut';
      this.pending = [];
      // A line begun in an earlier chunk (the engine splits output anywhere) and cut here goes
      // whole; a single line longer than the cap (lineEnd 0) is kept cut.
      if (!this.endsLine && this.lineEnd > 0) {
        await this.handle.truncate(this.lineEnd).catch(() => undefined);
        this.size = this.lineEnd;
        this.endsLine = true;
      }
      await this.mark(outputCutMarker(this.limits.size));
    }
  }

  private async noteTime(offset: number): Promise<void> {
    const now = Date.now();
    if (!this.times || Math.floor(now / 1000) === this.timedSecond) return;
    this.timedSecond = Math.floor(now / 1000);
    await this.times.write(`${now} ${offset}\n`).catch(() => undefined);
  }

  private drop(bytes: Buffer): void {
    this.dropped += bytes.length;
    if (bytes.length > 0) this.droppedEndsLine = bytes[bytes.length - 1] === 0x0a;
  }

  // statfs now and then, never per chunk: a low disk stops saving, space come back resumes it.
  private async checkRoom(): Promise<void> {
    const now = Date.now();
    if (this.sinceCheck < CHECK_BYTES && now - this.checkedAt < CHECK_MS) return;
    this.sinceCheck = 0;
    this.checkedAt = now;
    const free = await freeBytes(this.limits.root).catch(() => Number.POSITIVE_INFINITY);
    const { minFree } = this.limits;
    if (this.state === 'on' && free < minFree) {
      await this.stop('low', `only ${readableSize(free)} free on the spool's disk (limits.log_min_free ${readableSize(minFree)})`);
    } else if (this.state === 'low' && free >= minFree + CHECK_BYTES) {
      // Room for what may come before the next look, so a disk at the edge does not flap.
      this.state = 'on';
      const text = `output saved again from here; ${readableSize(this.dropped)} dropped while the spool's disk was low`;
      this.dropped = 0;
      this.limits.onChange?.(text);
      await this.mark(`dopq: ${text}\n`);
    }
  }

  private async stop(state: 'low' | 'broken', why: string): Promise<void> {
    this.state = state;
    const text = `output not saved from here: ${why}; the job goes on`;
    this.limits.onChange?.(text);
    await this.mark(`dopq: ${text}\n`);
  }

  // A marker that finds the disk full gives up the log's last lines to fit; else it is lost.
  private async mark(text: string): Promise<void> {
    for (const trim of this.trimmed ? [0] : [0, MARKER_ROOM]) {
      try {
        if (trim > 0) await this.trimTail(trim);
        await this.write(Buffer.from(`${this.endsLine ? '' : '\n'}${text}`));
        return;
      } catch (error) {
        if (!isNoSpace(error)) return;
      }
    }
  }

  // Positional writes. Of one the disk broke off, the whole lines written stay (`keepLines`,
  // output) or nothing does (a marker); the rest is truncated away again.
  private async write(data: Buffer, keepLines = false): Promise<void> {
    const start = this.size;
    let offset = 0;
    try {
      while (offset < data.length) {
        const { bytesWritten } = await this.handle.write(data, offset, data.length - offset, start + offset);
        offset += bytesWritten;
      }
    } catch (error) {
      const kept = keepLines ? data.subarray(0, offset).lastIndexOf(0x0a) + 1 : 0;
      await this.handle.truncate(start + kept).catch(() => undefined);
      this.size = start + kept;
      if (kept > 0) {
        this.endsLine = true;
        this.lineEnd = this.size;
      }
      throw error;
    }
    this.size = start + data.length;
    if (data.length > 0) this.endsLine = data[data.length - 1] === 0x0a;
    const newline = data.lastIndexOf(0x0a);
    if (newline >= 0) this.lineEnd = start + newline + 1;
  }

  // Once per log, so a disk that keeps filling up cannot eat the saved output marker by marker.
  private async trimTail(bytes: number): Promise<void> {
    this.trimmed = true;
    const from = Math.max(0, this.size - bytes);
    const tail = Buffer.alloc(this.size - from);
    await this.handle.read(tail, 0, tail.length, from);
    const newline = tail.subarray(0, -1).lastIndexOf(0x0a);
    this.size = newline >= 0 ? from + newline + 1 : from;
    this.endsLine = newline >= 0 || from === 0;
    this.lineEnd = Math.min(this.lineEnd, this.size);
    await this.handle.truncate(this.size);
  }
}

// A line begun in this batch is dropped whole; one begun in earlier batches (or the only one) is cut.
function cutAtLine(room: Buffer, afterWholeLine: boolean): Buffer {
  const newline = room.lastIndexOf(0x0a);
  return newline >= 0 ? room.subarray(0, newline + 1) : afterWholeLine ? room.subarray(0, 0) : room;
}

function isNoSpace(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'ENOSPC' || code === 'EDQUOT';
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String(error);
}
