// The framed protocol of an interactive job's session socket (spool/sessions/<id>.sock), between
// the daemon and `dopq shell`/`dopq attach`: [type: 1 byte][length: 4 bytes, big-endian][payload].
// Frames, not a raw byte stream, so a resize or a detach never mixes with what the user typed.

/** Terminal bytes: keystrokes to the program (client -> daemon), its output (daemon -> client). */
export const FRAME_DATA = 1;
/** Client -> daemon: the terminal's size, columns then rows, each a 16-bit big-endian number. */
export const FRAME_RESIZE = 2;
/** Client -> daemon: leave the program running; the daemon closes the connection. */
export const FRAME_DETACH = 3;
/** Daemon -> client: the job ended; JSON `{"state": "done", "exit_code": 0, "reason": "exited"}`. The last frame. */
export const FRAME_EXIT = 4;
/** Daemon -> client: a line from dopq for the user's stderr (another attach took over, the daemon stops). */
export const FRAME_NOTICE = 5;

export type FrameType = typeof FRAME_DATA | typeof FRAME_RESIZE | typeof FRAME_DETACH | typeof FRAME_EXIT | typeof FRAME_NOTICE;

export interface Frame {
  type: FrameType;
  payload: Uint8Array;
}

/** The largest payload either side sends or accepts: a peer that announces more is cut off. */
export const MAX_PAYLOAD = 64 * 1024;
const HEADER = 5;
const TYPES = new Set<number>([FRAME_DATA, FRAME_RESIZE, FRAME_DETACH, FRAME_EXIT, FRAME_NOTICE]);

export function encodeFrame(type: FrameType, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (payload.length > MAX_PAYLOAD) throw new RangeError(`a frame carries at most ${MAX_PAYLOAD} bytes, got ${payload.length}`);
  const frame = new Uint8Array(HEADER + payload.length);
  frame[0] = type;
  new DataView(frame.buffer).setUint32(1, payload.length);
  frame.set(payload, HEADER);
  return frame;
}

/** Data frames for any number of bytes, cut at MAX_PAYLOAD. */
export function encodeData(bytes: Uint8Array): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += MAX_PAYLOAD) frames.push(encodeFrame(FRAME_DATA, bytes.subarray(at, at + MAX_PAYLOAD)));
  return frames;
}

export function encodeResize(columns: number, rows: number): Uint8Array {
  const payload = new Uint8Array(4);
  const view = new DataView(payload.buffer);
  view.setUint16(0, clampSize(columns));
  view.setUint16(2, clampSize(rows));
  return encodeFrame(FRAME_RESIZE, payload);
}

/** A resize frame's size; undefined when its payload is not 4 bytes or a side is 0. */
export function decodeResize(payload: Uint8Array): { columns: number; rows: number } | undefined {
  if (payload.length !== 4) return undefined;
  const view = new DataView(payload.buffer, payload.byteOffset, 4);
  const size = { columns: view.getUint16(0), rows: view.getUint16(2) };
  return size.columns > 0 && size.rows > 0 ? size : undefined;
}

const clampSize = (n: number) => Math.max(1, Math.min(0xffff, Math.floor(Number.isFinite(n) ? n : 1)));

/** How a session ended, as the exit frame says it. */
export interface SessionExit {
  state: string;
  exit_code: number | null;
  /** The job's end reason (`exited`, `time-limit`, `cancelled`, ...). */
  reason?: string | null;
}

export function encodeExit(exit: SessionExit): Uint8Array {
  return encodeFrame(FRAME_EXIT, new TextEncoder().encode(JSON.stringify(exit)));
}

export function decodeExit(payload: Uint8Array): SessionExit | undefined {
  try {
    const value = JSON.parse(new TextDecoder().decode(payload)) as Partial<SessionExit>;
    if (typeof value.state !== 'string') return undefined;
    return {
      state: value.state,
      exit_code: typeof value.exit_code === 'number' ? value.exit_code : null,
      reason: typeof value.reason === 'string' ? value.reason : null,
    };
  } catch {
    return undefined;
  }
}

export function encodeNotice(text: string): Uint8Array {
  return encodeFrame(FRAME_NOTICE, new TextEncoder().encode(text.slice(0, 1024)));
}

/**
 * Frames from a byte stream that arrives in any pieces. `push` returns the frames completed so
 * far, or throws on a frame no peer of ours sends (unknown type, payload above MAX_PAYLOAD):
 * the connection is then closed, never buffered without bound.
 */
export class FrameDecoder {
  private buffered = new Uint8Array(0);

  push(chunk: Uint8Array): Frame[] {
    const joined = new Uint8Array(this.buffered.length + chunk.length);
    joined.set(this.buffered);
    joined.set(chunk, this.buffered.length);
    const frames: Frame[] = [];
    let at = 0;
    while (joined.length - at >= HEADER) {
      const type = joined[at]!;
      const length = new DataView(joined.buffer, at + 1, 4).getUint32(0);
      if (!TYPES.has(type)) throw new FrameError(`unknown frame type ${type}`);
      if (length > MAX_PAYLOAD) throw new FrameError(`a frame of ${length} bytes is above ${MAX_PAYLOAD}`);
      if (joined.length - at < HEADER + length) break;
      frames.push({ type: type as FrameType, payload: joined.slice(at + HEADER, at + HEADER + length) });
      at += HEADER + length;
    }
    this.buffered = joined.slice(at);
    return frames;
  }
}

export class FrameError extends Error {}
