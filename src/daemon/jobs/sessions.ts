// Interactive jobs' terminals, brokered by the daemon: users never reach the engine, so the daemon
// attaches to the container (stdin, output) and serves the job's owner on spool/sessions/<id>.sock
// in the framed protocol of core/session/frames.ts. Nothing here waits on a client: output goes
// to whoever is attached as far as their socket takes it, and a client too slow or gone is
// dropped (the job goes on, detached). The job's log keeps its output as for any job (lifecycle.ts).
import type { Socket } from 'node:net';
import {
  decodeResize,
  encodeData,
  encodeExit,
  encodeNotice,
  FRAME_DATA,
  FRAME_DETACH,
  FRAME_RESIZE,
  FrameDecoder,
  type SessionExit,
} from '../../core/session/frames.js';
import { dockerMessage } from '../../io/docker/docker.js';
import { listenOnSessionSocket, removeStaleSessionSockets, type SessionSocket } from '../../io/spool/session-socket.js';
import type { JobRecord } from '../../core/job/job.js';
import type { DaemonContext } from '../context.js';

/** Output a client's socket may hold unsent before the client counts as gone. */
export const CLIENT_BACKLOG_BYTES = 1024 * 1024;
/** Output printed while nobody was attached, replayed to the next client (the log has all of it). */
export const REPLAY_BYTES = 64 * 1024;
/** Keys a client may have sent that the program has not read yet before the client is paused. */
const STDIN_BACKLOG_BYTES = 256 * 1024;

interface Session {
  jobId: number;
  containerId: string;
  socket: SessionSocket | undefined;
  terminal: NodeJS.ReadWriteStream | undefined;
  attaching: Promise<void> | undefined;
  client: Socket | undefined;
  /** Output since the last client left, newest REPLAY_BYTES of it. */
  replay: Buffer[];
  replayBytes: number;
  abort: AbortController;
  closed: boolean;
  /** A resize asked while one is under way: only the last is sent, one call at a time. */
  resizing: boolean;
  nextSize: { columns: number; rows: number } | undefined;
}

const registries = new WeakMap<DaemonContext, Map<number, Session>>();

function sessionsOf(ctx: DaemonContext): Map<number, Session> {
  let map = registries.get(ctx);
  if (!map) registries.set(ctx, (map = new Map()));
  return map;
}

/** At the daemon's start: sockets of a daemon that died are dead; sessions of running jobs open again. */
export async function clearStaleSessions(ctx: DaemonContext): Promise<void> {
  if (sessionsOf(ctx).size === 0) await removeStaleSessionSockets(ctx.spool.sessions);
}

/**
 * Serve an interactive job's terminal: before its container starts (so the first prompt is
 * caught), or for a running one adopted after a daemon restart. Once per container.
 */
export async function openSession(ctx: DaemonContext, job: JobRecord): Promise<void> {
  if (!job.interactive || !job.container_id) return;
  const sessions = sessionsOf(ctx);
  const existing = sessions.get(job.id);
  if (existing && existing.containerId === job.container_id) return;
  if (existing) closeSession(ctx, job.id, undefined);
  const session: Session = {
    jobId: job.id,
    containerId: job.container_id,
    socket: undefined,
    terminal: undefined,
    attaching: undefined,
    client: undefined,
    replay: [],
    replayBytes: 0,
    abort: new AbortController(),
    closed: false,
    resizing: false,
    nextSize: undefined,
  };
  sessions.set(job.id, session);
  await attach(ctx, session);
  try {
    const socket = await listenOnSessionSocket(ctx.spool.sessions, job.id, job.uid, (client) => connect(ctx, session, client));
    if (session.closed) await socket.close();
    else session.socket = socket;
  } catch (error) {
    ctx.log.error(`cannot open the session socket: ${(error as Error).message}; dopq attach will not reach this job`, job.id);
  }
}

/** Attach to the container's terminal (again, when an attach ended while the program runs). */
function attach(ctx: DaemonContext, session: Session): Promise<void> {
  session.attaching ??= (async () => {
    try {
      const terminal = await ctx.engine.attachTerminal(session.containerId, session.abort.signal);
      if (session.closed) return;
      session.terminal = terminal;
      terminal.on('data', (chunk: Buffer) => output(ctx, session, chunk));
      terminal.on('error', () => undefined);
      terminal.on('close', () => {
        if (session.terminal === terminal) session.terminal = undefined;
      });
      terminal.on('end', () => {
        if (session.terminal === terminal) session.terminal = undefined;
      });
    } catch (error) {
      if (!session.closed) ctx.log.error(`cannot attach to the job's terminal: ${dockerMessage(error)}`, session.jobId);
    } finally {
      session.attaching = undefined;
    }
  })();
  return session.attaching;
}

/** The program's output: to the client as far as its socket takes it, else kept for the next one. */
function output(ctx: DaemonContext, session: Session, chunk: Buffer): void {
  const client = session.client;
  if (client && !client.destroyed) {
    if (client.writableLength > CLIENT_BACKLOG_BYTES) {
      ctx.log.info('dropped an attached client that read nothing for too long; the job goes on', session.jobId);
      client.destroy();
      session.client = undefined;
    } else {
      for (const frame of encodeData(chunk)) client.write(frame);
      return;
    }
  }
  session.replay.push(chunk);
  session.replayBytes += chunk.length;
  while (session.replayBytes > REPLAY_BYTES && session.replay.length > 1) session.replayBytes -= session.replay.shift()!.length;
}

/** A client connected (the socket's mode let only the owner or root in): it takes the session over. */
function connect(ctx: DaemonContext, session: Session, client: Socket): void {
  if (session.closed) {
    client.destroy();
    return;
  }
  const previous = session.client;
  if (previous && !previous.destroyed) {
    // Told, then gone: a client taken over holds no descriptor of the daemon's (a loop of
    // connections to one's own session would run the daemon out of them) and types no more.
    previous.end(encodeNotice(`another dopq attach ${session.jobId} took this session over`));
    previous.destroySoon();
    setTimeout(() => previous.destroy(), 1000).unref();
  }
  session.client = client;
  if (session.replayBytes > 0) {
    for (const frame of encodeData(Buffer.concat(session.replay))) client.write(frame);
    session.replay = [];
    session.replayBytes = 0;
  }
  if (!session.terminal) void attach(ctx, session);
  const decoder = new FrameDecoder();
  const leave = () => {
    if (session.client === client) session.client = undefined;
  };
  client.on('error', leave);
  client.on('close', leave);
  client.on('data', (chunk: Buffer) => {
    if (session.client !== client) return; // taken over: its keys go nowhere
    let frames;
    try {
      frames = decoder.push(chunk);
    } catch {
      client.destroy();
      return;
    }
    for (const frame of frames) {
      if (frame.type === FRAME_DATA) typeIn(ctx, session, client, frame.payload);
      else if (frame.type === FRAME_RESIZE) {
        const size = decodeResize(frame.payload);
        if (size) resize(ctx, session, size);
      } else if (frame.type === FRAME_DETACH) {
        leave();
        client.end();
        return;
      }
    }
  });
}

/** One engine call at a time, the latest size last: a client sending resizes without end costs one call in flight. */
function resize(ctx: DaemonContext, session: Session, size: { columns: number; rows: number }): void {
  session.nextSize = size;
  if (session.resizing) return;
  const next = session.nextSize;
  session.nextSize = undefined;
  session.resizing = true;
  ctx.engine
    .resizeTerminal(session.containerId, next.columns, next.rows)
    .catch(() => undefined) // gone, or not started yet
    .finally(() => {
      session.resizing = false;
      if (session.nextSize && !session.closed) resize(ctx, session, session.nextSize);
    });
}

/** Keys to the program; a client that types faster than it reads waits (its socket is paused), never the daemon. */
function typeIn(ctx: DaemonContext, session: Session, client: Socket, bytes: Uint8Array): void {
  const terminal = session.terminal;
  if (!terminal) {
    // The engine's stream ended under a session still open (the job goes on): join the terminal
    // again, else every key from here on would be lost. What was typed meanwhile is lost, as on a
    // broken line; attach() makes one call at a time.
    if (!session.closed) void attach(ctx, session);
    return;
  }
  terminal.write(bytes);
  const buffered = (terminal as unknown as { writableLength?: number }).writableLength ?? 0;
  if (buffered > STDIN_BACKLOG_BYTES) {
    client.pause();
    terminal.once('drain', () => client.resume());
  }
}

/**
 * The job ended (`exit`), or its session must go (undefined: a daemon stopping, a container
 * replaced). The client is told, the socket removed; the container is never touched here.
 */
export function closeSession(ctx: DaemonContext, jobId: number, exit: SessionExit | undefined, notice?: string): void {
  const sessions = sessionsOf(ctx);
  const session = sessions.get(jobId);
  if (!session) return;
  sessions.delete(jobId);
  session.closed = true;
  const client = session.client;
  session.client = undefined;
  if (client && !client.destroyed) {
    if (notice) client.write(encodeNotice(notice));
    if (exit) client.write(encodeExit(exit));
    client.end();
    // A client that reads nothing would hold its socket open: gone once the last frames had their chance.
    setTimeout(() => client.destroy(), 2000).unref();
  }
  session.abort.abort();
  const terminal = session.terminal as (NodeJS.ReadWriteStream & { destroy?: () => void }) | undefined;
  terminal?.destroy?.();
  void session.socket?.close().catch(() => undefined);
}

/** The daemon stops: every client is told its job goes on, and every socket goes (containers keep running). */
export function closeAllSessions(ctx: DaemonContext): void {
  for (const id of [...sessionsOf(ctx).keys()]) {
    closeSession(ctx, id, undefined, `the dopq daemon stopped; job ${id} goes on: dopq attach ${id} once it is back`);
  }
}

/** Sessions of jobs no longer running (lost, cancelled before starting) are closed. */
export function sweepSessions(ctx: DaemonContext): void {
  for (const id of [...sessionsOf(ctx).keys()]) {
    const job = ctx.state.jobs.find((j) => j.id === id);
    if (!job || job.state !== 'running') closeSession(ctx, id, job ? sessionExit(job) : undefined);
  }
}

/** How the session's client learns its job ended. */
export function sessionExit(job: JobRecord): SessionExit {
  return { state: job.state, exit_code: job.exit_code ?? null, reason: job.reason ?? null };
}
