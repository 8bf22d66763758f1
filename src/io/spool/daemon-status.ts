// A small status file beside the state (state/daemon.status) that the daemon can update even on a
// full disk: its blocks are allocated once, at start, and every update overwrites them in place.
// `dopq q` reads it to say what the state cannot: the state was not saved, the engine is away.
import { open, readFile, type FileHandle } from 'node:fs/promises';

const SIZE = 4096;

export interface DaemonStatus {
  pid: number;
  at: number;
  engine: { reachable: boolean; since: number | null; error: string | null };
  /** Set while the state cannot be written: since when, and why. */
  save_error: { since: number; error: string } | null;
  /** The last config reload (SIGHUP or `dopq reload`), null before the first. */
  reload?: ReloadStatus | null;
  /** The daemon's last finished pass before this write: when it ended (ms) and how long it took (`dopq metrics`). */
  last_pass?: { at: number; ms: number } | null;
}

/** What a config reload did: applied (with what changed) or refused (with why). */
export interface ReloadStatus {
  at: number;
  /** `SIGHUP`, or the admins who asked. */
  by: string;
  /** The tokens of the `dopq reload` requests this answers. */
  tokens: string[];
  applied: boolean;
  /** Dotted config keys changed. */
  changed: string[];
  /** Keys changed in the file that keep their running value until a restart. */
  pending_restart: string[];
  /** Why it was refused: file, field and line, one problem each. */
  errors: string[];
}

export interface StatusWriter {
  /** Resolves to the status as written: shortened when it did not fit (what readers see). */
  write(status: DaemonStatus): Promise<DaemonStatus>;
  close(): Promise<void>;
}

export async function openStatusFile(file: string): Promise<StatusWriter> {
  const handle: FileHandle = await open(file, 'w', 0o644);
  await handle.chmod(0o644);
  await handle.write(Buffer.alloc(SIZE, 0x20), 0, SIZE, 0);
  await handle.sync();
  let chain = Promise.resolve();
  return {
    async write(status) {
      let written = status;
      let text = JSON.stringify(written);
      if (Buffer.byteLength(text) > SIZE - 1) text = JSON.stringify((written = shortened(status)));
      const body = Buffer.alloc(SIZE, 0x20);
      body.write(text, 0, 'utf8');
      chain = chain.then(async () => {
        await handle.write(body, 0, SIZE, 0);
      }).catch(() => undefined);
      await chain;
      return written;
    },
    async close() {
      await chain;
      await handle.close();
    },
  };
}

/** The same status in less room: long messages cut, the reload's lists kept to their first entries. */
function shortened(status: DaemonStatus): DaemonStatus {
  const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
  const reload = status.reload && {
    ...status.reload,
    tokens: status.reload.tokens.slice(-4),
    changed: status.reload.changed.slice(0, 12).map((key) => cut(key, 60)),
    errors: status.reload.errors.slice(0, 6).map((error) => cut(error, 200)),
  };
  return {
    ...status,
    engine: { ...status.engine, error: status.engine.error === null ? null : cut(status.engine.error, 500) },
    save_error: status.save_error && { ...status.save_error, error: cut(status.save_error.error, 500) },
    ...(reload ? { reload } : {}),
  };
}

export async function readDaemonStatus(file: string): Promise<DaemonStatus | undefined> {
  try {
    const text = (await readFile(file, 'utf8')).trim();
    return text ? (JSON.parse(text) as DaemonStatus) : undefined;
  } catch {
    return undefined;
  }
}
