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
}

export interface StatusWriter {
  write(status: DaemonStatus): Promise<void>;
  close(): Promise<void>;
}

export async function openStatusFile(file: string): Promise<StatusWriter> {
  const handle: FileHandle = await open(file, 'w', 0o644);
  await handle.chmod(0o644);
  await handle.write(Buffer.alloc(SIZE, 0x20), 0, SIZE, 0);
  await handle.sync();
  let chain = Promise.resolve();
  return {
    write(status) {
      let text = JSON.stringify(status);
      if (text.length > SIZE - 1) text = JSON.stringify({ ...status, engine: { ...status.engine, error: status.engine.error?.slice(0, 500) ?? null }, save_error: status.save_error && { ...status.save_error, error: status.save_error.error.slice(0, 500) } });
      const body = Buffer.alloc(SIZE, 0x20);
      body.write(text, 0, 'utf8');
      chain = chain.then(async () => {
        await handle.write(body, 0, SIZE, 0);
      }).catch(() => undefined);
      return chain;
    },
    async close() {
      await chain;
      await handle.close();
    },
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
