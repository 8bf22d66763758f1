// `dopq web`'s HTTP server: the page, its script and style, q's view as JSON, the view live as
// server-sent events, and the last 24 h for the charts. Read-only: GET and HEAD only, and no
// endpoint changes anything. It runs without root (the daemon's child as web.user) and reads
// only what `dopq q` reads, plus the daemon's usage history; bounded like /metrics.
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { ExitCode } from '../../core/errors.js';
import { HISTORY_POINT_MS, HISTORY_WINDOW_MS } from '../../core/view/usage-history.js';
import { readDaemonStatus } from '../../io/spool/daemon-status.js';
import { readHistory } from '../../io/spool/usage-history.js';
import { boundedServer, listenAddress, listenOn, sendText, untilStopped } from '../bounded-http.js';
import { buildView } from '../commands/q.js';
import type { CommandContext } from '../context.js';
import { daemonQueueView } from '../daemon-view.js';
import { isLocalHostHeader, isLoopback } from '../allowed-host.js';
import { APP_JS, FAVICON_SVG, INDEX_HTML, SECURITY_HEADERS, STYLE_CSS } from './page.js';
import { MAX_EVENT_CLIENTS, ViewFeed } from './view-feed.js';

/** Connections at once: every event client, and room beside them for the page and its files. */
export const MAX_WEB_CONNECTIONS = MAX_EVENT_CLIENTS * 2;

/**
 * q's view as `dopq q --json` prints it to any local user, as one line (the daemon's own when it
 * holds, as q takes it): never with the details of a pending job that only its owner's q reads,
 * though the server runs as that owner.
 */
export async function viewJson(ctx: CommandContext): Promise<string> {
  const now = Date.now();
  const cached = await daemonQueueView(ctx, now);
  if (cached) return Buffer.from(cached.json).toString('utf8').trimEnd();
  return JSON.stringify(await buildView(ctx, { all: false, asAnyone: true }, now));
}

async function lastPassJson(ctx: CommandContext): Promise<string> {
  const status = await readDaemonStatus(ctx.spool.daemonStatus);
  return JSON.stringify(status?.last_pass ?? null);
}

/** Serves until a signal or until the daemon that started it is gone; resolves to the exit code. */
export async function serveWeb(ctx: CommandContext, listen: string): Promise<number> {
  // An error is logged when it first happens, not again for each request and poll while it lasts
  // (the daemon's log takes this stderr): a damaged state would otherwise write twice a second.
  let lastError: string | undefined;
  const report = (error: Error): void => {
    if (error.message !== lastError) ctx.io.err(`dopq web: ${error.message}\n`);
    lastError = error.message;
  };
  const readView = async (): Promise<string> => {
    const json = await viewJson(ctx);
    lastError = undefined;
    return json;
  };
  const feed = new ViewFeed({
    watched: [ctx.spool.queueView, ctx.spool.state, ctx.spool.daemonStatus, ctx.spool.intake, path.dirname(ctx.spool.state)],
    view: readView,
    lastPass: () => lastPassJson(ctx),
    onError: report,
  });
  // Requests that arrive together share one read of the spool.
  let inFlight: Promise<string> | undefined;
  const view = (): Promise<string> => (inFlight ??= readView().finally(() => (inFlight = undefined)));
  const loopback = isLoopback(listenAddress(listen).host);
  const bounded = boundedServer(
    (request, response) =>
      void answer(request, response, { ctx, feed, view, loopback, keepOpen: () => bounded.keepOpen(request.socket) }).catch(
        (error: Error) => {
          report(error);
          if (!response.headersSent) sendText(response, 503, 'the queue could not be read\n', SECURITY_HEADERS);
          else response.destroy();
        },
      ),
    { maxConnections: MAX_WEB_CONNECTIONS },
  );
  await listenOn(bounded.server, listen, 'web', 'pick another address: dopq web --listen HOST:PORT, or web.listen for the daemon');
  ctx.io.err(`dopq web: serving http://${listen}/ as uid ${process.getuid?.() ?? '?'}\n`);
  await untilStopped();
  feed.close();
  bounded.server.close();
  bounded.server.closeAllConnections();
  return ExitCode.ok;
}

interface Serving {
  ctx: CommandContext;
  feed: ViewFeed;
  view: () => Promise<string>;
  /** On a loopback address: only a Host of localhost or an address is answered (allowed-host.ts). */
  loopback: boolean;
  keepOpen: () => void;
}

async function answer(request: IncomingMessage, response: ServerResponse, serving: Serving): Promise<void> {
  request.resume(); // a body, if any, is read and dropped; the request timeout bounds it
  const route = (request.url ?? '').split('?')[0];
  if (serving.loopback && !isLocalHostHeader(request.headers.host))
    return sendText(
      response,
      421,
      'this dashboard answers only Host: localhost or an IP address (a reverse proxy must pass on its own upstream Host)\n',
      SECURITY_HEADERS,
    );
  if (request.method !== 'GET' && request.method !== 'HEAD')
    return sendText(response, 405, 'method not allowed: the dashboard is read-only\n', { ...SECURITY_HEADERS, Allow: 'GET, HEAD' });
  const head = request.method === 'HEAD';
  switch (route) {
    case '/':
    case '/index.html':
      return send(response, head, 'text/html; charset=utf-8', INDEX_HTML);
    case '/app.js':
      return send(response, head, 'text/javascript; charset=utf-8', APP_JS);
    case '/style.css':
      return send(response, head, 'text/css; charset=utf-8', STYLE_CSS);
    case '/favicon.svg':
      return send(response, head, 'image/svg+xml', FAVICON_SVG);
    case '/healthz':
      return send(response, head, 'text/plain; charset=utf-8', 'ok\n');
    case '/api/view':
      return send(response, head, 'application/json', `${await serving.view()}\n`);
    case '/api/history': {
      const now = Date.now();
      const points = await readHistory(serving.ctx.spool.usageHistory, now);
      const body = {
        window_seconds: HISTORY_WINDOW_MS / 1000,
        interval_seconds: HISTORY_POINT_MS / 1000,
        generated_at: new Date(now).toISOString(),
        points,
      };
      return send(response, head, 'application/json', `${JSON.stringify(body)}\n`);
    }
    case '/events':
      if (head) return send(response, true, 'text/event-stream; charset=utf-8', '');
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.setHeader(name, value);
      if (!serving.feed.add(response))
        return sendText(response, 503, `too many event clients (${MAX_EVENT_CLIENTS})\n`, { 'Retry-After': '10' });
      serving.keepOpen();
      return;
    default:
      return sendText(response, 404, 'not found\n', SECURITY_HEADERS);
  }
}

function send(response: ServerResponse, head: boolean, type: string, body: string): void {
  response.writeHead(200, {
    ...SECURITY_HEADERS,
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    Connection: 'close',
  });
  response.end(head ? undefined : body);
}
