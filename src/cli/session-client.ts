// The user's side of an interactive job's session: this terminal, raw, joined to the daemon's
// socket for the job (spool/sessions/<id>.sock, frames of core/session/frames.ts). Keys go to the
// program (Ctrl-C included), its output comes back; Ctrl-P Ctrl-Q leaves it running.
import { connect, type Socket } from 'node:net';
import { DetachKeys } from '../core/session/detach-keys.js';
import {
  decodeExit,
  encodeData,
  encodeFrame,
  encodeResize,
  FRAME_DATA,
  FRAME_DETACH,
  FRAME_EXIT,
  FRAME_NOTICE,
  FrameDecoder,
  type SessionExit,
} from '../core/session/frames.js';

/** How a session ended for this client. */
export type SessionEnd =
  | { kind: 'exit'; exit: SessionExit }
  | { kind: 'detached' }
  /** The connection closed without an exit frame: the daemon stopped, or another attach took over. */
  | { kind: 'closed' };

export interface Terminal {
  input: NodeJS.ReadStream;
  output: NodeJS.WriteStream;
  /** Where dopq's own lines go. */
  notices: (line: string) => void;
}

/** Open the socket: rejects with the system's error (ENOENT, EACCES, ECONNREFUSED). */
export function openSessionSocket(file: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(file);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Run the session on an open socket until the job ends, the user detaches or the connection closes. */
export function runSession(socket: Socket, terminal: Terminal): Promise<SessionEnd> {
  const { input, output } = terminal;
  const raw = input.isTTY === true;
  const detachKeys = new DetachKeys();
  const decoder = new FrameDecoder();
  let end: SessionEnd = { kind: 'closed' };

  const send = (frame: Uint8Array) => {
    if (!socket.destroyed) socket.write(frame);
  };
  const resize = () => {
    if (output.isTTY) send(encodeResize(output.columns, output.rows));
  };
  const onKeys = (chunk: Buffer) => {
    const scanned = detachKeys.scan(chunk);
    for (const frame of encodeData(scanned.forward)) send(frame);
    if (scanned.detach) {
      end = { kind: 'detached' };
      send(encodeFrame(FRAME_DETACH));
      socket.end();
    }
  };
  socket.on('data', (chunk: Buffer) => {
    let frames;
    try {
      frames = decoder.push(chunk);
    } catch {
      socket.destroy();
      return;
    }
    for (const frame of frames) {
      if (frame.type === FRAME_DATA) {
        // A terminal slower than the program: stop reading until it catches up (the daemon drops us, never waits).
        if (!output.write(frame.payload)) {
          socket.pause();
          output.once('drain', () => socket.resume());
        }
      } else if (frame.type === FRAME_NOTICE) terminal.notices(new TextDecoder().decode(frame.payload));
      else if (frame.type === FRAME_EXIT) {
        const exit = decodeExit(frame.payload);
        if (exit) end = { kind: 'exit', exit };
      }
    }
  });

  if (raw) input.setRawMode(true);
  input.on('data', onKeys);
  input.resume();
  output.on('resize', resize);
  resize();

  return new Promise((resolve) => {
    const finish = () => {
      input.off('data', onKeys);
      output.off('resize', resize);
      if (raw) input.setRawMode(false);
      input.pause();
      resolve(end);
    };
    socket.once('close', finish);
    socket.on('error', () => undefined); // the close that follows ends the session
  });
}
