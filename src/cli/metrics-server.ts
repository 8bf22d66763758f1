// The /metrics endpoint: a small HTTP server that runs as an unprivileged child of the daemon and
// reads only what `dopq q` reads. Requests are bounded (headers, time, connections) and a slow or
// malformed client costs only this process, never the daemon's passes.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { DopqError, ExitCode } from '../core/errors.js';
import { TEXT_CONTENT_TYPE } from '../core/metrics/prometheus-text.js';
import type { CommandContext } from './context.js';

/** Limits on one client: time to its first bytes and to the end of its one request; header size; connections at once. */
export const METRICS_LIMITS = { headersMs: 5000, requestMs: 10_000, maxHeaderBytes: 8192, maxConnections: 64 } as const;

/** Serves until the daemon goes away (its IPC channel closes) or a signal; resolves to the exit code. */
export async function serveMetrics(ctx: CommandContext, listen: string, render: () => Promise<string>): Promise<number> {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  const port = Number(listen.slice(at + 1));
  // Scrapes that arrive together share one read of the spool.
  let inFlight: Promise<string> | undefined;
  const exposition = (): Promise<string> => (inFlight ??= render().finally(() => (inFlight = undefined)));

  const server = createServer(
    {
      maxHeaderSize: METRICS_LIMITS.maxHeaderBytes,
      headersTimeout: METRICS_LIMITS.headersMs,
      requestTimeout: METRICS_LIMITS.requestMs,
      // How often Node checks those two limits (30 s by default): a silent client goes within ~6 s.
      connectionsCheckingInterval: 1000,
    },
    (request: IncomingMessage, response: ServerResponse) => void answer(request, response, exposition, ctx),
  );
  server.maxConnections = METRICS_LIMITS.maxConnections;
  // Node 20's own headersTimeout and requestTimeout do not see a connection that sends nothing,
  // and did not reliably end one that stops halfway: each connection gets headersMs to send its
  // whole header and requestMs in all, and carries one request (every answer says Connection: close).
  const headerDeadlines = new WeakMap<Socket, NodeJS.Timeout>();
  server.on('connection', (socket: Socket) => {
    const end = () => socket.destroy();
    const silent = setTimeout(end, METRICS_LIMITS.headersMs);
    const whole = setTimeout(end, METRICS_LIMITS.requestMs);
    headerDeadlines.set(socket, silent);
    socket.once('close', () => {
      clearTimeout(silent);
      clearTimeout(whole);
    });
  });
  server.on('request', (request: IncomingMessage) => clearTimeout(headerDeadlines.get(request.socket)));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new DopqError('metrics-listen', ExitCode.unavailable, `cannot listen: ${error.message}`, listen, {
          hint: 'pick another metrics.listen',
        }),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  ctx.io.err(`dopq metrics: serving http://${listen}/metrics as uid ${process.getuid?.() ?? '?'}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
    process.once('disconnect', resolve); // the daemon that started this child is gone
  });
  server.close();
  server.closeAllConnections();
  return ExitCode.ok;
}

async function answer(
  request: IncomingMessage,
  response: ServerResponse,
  exposition: () => Promise<string>,
  ctx: CommandContext,
): Promise<void> {
  request.resume(); // a body, if any, is read and dropped; the request timeout bounds it
  const path = (request.url ?? '').split('?')[0];
  if (path !== '/metrics') return send(response, 404, 'not found: dopq serves /metrics only\n');
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('Allow', 'GET, HEAD');
    return send(response, 405, 'method not allowed\n');
  }
  try {
    const text = await exposition();
    response.writeHead(200, {
      'Content-Type': TEXT_CONTENT_TYPE,
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store',
      Connection: 'close',
    });
    response.end(request.method === 'HEAD' ? undefined : text);
  } catch (error) {
    ctx.io.err(`dopq metrics: ${(error as Error).message}\n`);
    send(response, 503, 'the queue could not be read\n');
  }
}

function send(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    Connection: 'close',
  });
  response.end(text);
}
