// The HTTP server under /metrics and the web dashboard: bounded headers (size and time), bounded
// requests and connections, so a slow or malformed client costs only the unprivileged process
// that serves it, never the daemon's passes. Both run as the daemon's child (serving-child.ts).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { DopqError, ExitCode } from '../core/errors.js';

/** Limits on one client: time to its whole header and to the end of its request; header size; connections at once. */
export const HTTP_LIMITS = { headersMs: 5000, requestMs: 10_000, maxHeaderBytes: 8192, maxConnections: 64 } as const;

export interface BoundedServer {
  server: Server;
  /** A response that streams (server-sent events) outlives requestMs: its connection's deadline is lifted. */
  keepOpen(socket: Socket): void;
}

export function boundedServer(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
  limits: { maxConnections: number } = HTTP_LIMITS,
): BoundedServer {
  const server = createServer(
    {
      maxHeaderSize: HTTP_LIMITS.maxHeaderBytes,
      headersTimeout: HTTP_LIMITS.headersMs,
      requestTimeout: HTTP_LIMITS.requestMs,
      // How often Node checks those two limits (30 s by default): a silent client goes within ~6 s.
      connectionsCheckingInterval: 1000,
    },
    handler,
  );
  server.maxConnections = limits.maxConnections;
  // Node 20's own headersTimeout and requestTimeout do not see a connection that sends nothing,
  // and did not reliably end one that stops halfway: each connection gets headersMs to send its
  // whole header and requestMs in all, and carries one request (every answer says Connection: close).
  const deadlines = new WeakMap<Socket, { header: NodeJS.Timeout; whole: NodeJS.Timeout }>();
  server.on('connection', (socket: Socket) => {
    const end = () => socket.destroy();
    const timers = { header: setTimeout(end, HTTP_LIMITS.headersMs), whole: setTimeout(end, HTTP_LIMITS.requestMs) };
    deadlines.set(socket, timers);
    socket.once('close', () => {
      clearTimeout(timers.header);
      clearTimeout(timers.whole);
    });
  });
  server.on('request', (request: IncomingMessage) => {
    const timers = deadlines.get(request.socket);
    if (timers) clearTimeout(timers.header);
  });
  return {
    server,
    keepOpen(socket) {
      const timers = deadlines.get(socket);
      if (timers) clearTimeout(timers.whole);
    },
  };
}

/** `host:port` (`[::1]:port`) as its host, without brackets, and port. */
export function listenAddress(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(':');
  return { host: listen.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(listen.slice(at + 1)) };
}

/** Listens on `host:port` (`[::1]:port`); a port in use or a bad address is a DopqError naming `key`, with `hint`. */
export async function listenOn(server: Server, listen: string, key: string, hint = `pick another ${key}.listen`): Promise<void> {
  const { host, port } = listenAddress(listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new DopqError(`${key}-listen`, ExitCode.unavailable, `cannot listen: ${error.message}`, listen, {
          hint,
        }),
      ),
    );
    server.listen(port, host, () => resolve());
  });
}

/** Until a signal, or until the daemon that started this child is gone (its IPC channel closes). */
export function untilStopped(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
    process.once('disconnect', resolve);
  });
}

/** A short plain-text answer that closes the connection. */
export function sendText(response: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, {
    ...headers,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    Connection: 'close',
  });
  response.end(text);
}
