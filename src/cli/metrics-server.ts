// The /metrics endpoint: a small HTTP server that runs as an unprivileged child of the daemon and
// reads only what `dopq q` reads. Requests are bounded (headers, time, connections) and a slow or
// malformed client costs only this process, never the daemon's passes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TEXT_CONTENT_TYPE } from '../core/metrics/prometheus-text.js';
import { ExitCode } from '../core/errors.js';
import { isLocalHostHeader, isLoopback } from './allowed-host.js';
import { boundedServer, listenAddress, listenOn, sendText as send, untilStopped } from './bounded-http.js';
import type { CommandContext } from './context.js';

/** Serves until the daemon goes away (its IPC channel closes) or a signal; resolves to the exit code. */
export async function serveMetrics(ctx: CommandContext, listen: string, render: () => Promise<string>): Promise<number> {
  // Scrapes that arrive together share one read of the spool.
  let inFlight: Promise<string> | undefined;
  const exposition = (): Promise<string> => (inFlight ??= render().finally(() => (inFlight = undefined)));
  const loopback = isLoopback(listenAddress(listen).host);
  const { server } = boundedServer((request, response) => void answer(request, response, exposition, ctx, loopback));
  await listenOn(server, listen, 'metrics');
  ctx.io.err(`dopq metrics: serving http://${listen}/metrics as uid ${process.getuid?.() ?? '?'}\n`);
  await untilStopped();
  server.close();
  server.closeAllConnections();
  return ExitCode.ok;
}
async function answer(
  request: IncomingMessage,
  response: ServerResponse,
  exposition: () => Promise<string>,
  ctx: CommandContext,
  loopback: boolean,
): Promise<void> {
  request.resume(); // a body, if any, is read and dropped; the request timeout bounds it
  // On loopback, as the dashboard: no page from elsewhere may read it by rebinding its name (allowed-host.ts).
  if (loopback && !isLocalHostHeader(request.headers.host))
    return send(response, 421, '/metrics on loopback answers only Host: localhost or an IP address\n');
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
