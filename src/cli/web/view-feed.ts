// /events: one poll of the spool shared by every event client (never one per client). Twice a
// second it stats what q's view is built from; when that changed (or every 30 s, for the clock's
// estimates) it builds the view once and sends it to every client if it differs from the last.
// A client that has not taken the last message when the next is due is dropped, so one that never
// reads holds one message of memory at most and stalls no one.
import { stat } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';

/** Clients at once; more are answered 503. */
export const MAX_EVENT_CLIENTS = 64;
const POLL_MS = 500;
const REBUILD_MS = 30_000;
const HEARTBEAT_MS = 15_000;

export interface FeedSource {
  /** The files and folders whose change means a new view (stat'ed: mtime and size). */
  watched: string[];
  /** q's view as one line of JSON. */
  view(): Promise<string>;
  /** The daemon's last pass, as one line of JSON (`null` when unknown). */
  lastPass(): Promise<string>;
  onError(error: Error): void;
}

export class ViewFeed {
  private readonly clients = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private signature = '';
  private builtAt = 0;
  private polling = false;
  private last: { view: string; pass: string } | undefined;

  constructor(private readonly source: FeedSource) {}

  get size(): number {
    return this.clients.size;
  }

  /** Takes the response as an event stream; false when the cap is reached (the caller answers 503). */
  add(response: ServerResponse): boolean {
    if (this.clients.size >= MAX_EVENT_CLIENTS) return false;
    response.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no', // nginx: pass each event on at once
      Connection: 'keep-alive',
    });
    response.write('retry: 2000\n\n');
    this.clients.add(response);
    response.once('close', () => {
      this.clients.delete(response);
      if (this.clients.size === 0) this.stop();
    });
    if (this.last) this.send(response, this.message(this.last));
    if (!this.timer) {
      this.timer = setInterval(() => void this.poll(), POLL_MS);
      this.heartbeat = setInterval(() => this.broadcast(': heartbeat\n\n'), HEARTBEAT_MS);
      void this.poll();
    }
    return true;
  }

  close(): void {
    this.stop();
    for (const client of this.clients) client.destroy();
    this.clients.clear();
  }

  private stop(): void {
    clearInterval(this.timer);
    clearInterval(this.heartbeat);
    this.timer = undefined;
    this.heartbeat = undefined;
    this.signature = '';
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const stats = await Promise.all(
        this.source.watched.map((file) =>
          stat(file).then(
            (s) => `${s.mtimeMs}:${s.size}`,
            () => '-',
          ),
        ),
      );
      const signature = stats.join('|');
      if (signature === this.signature && Date.now() - this.builtAt < REBUILD_MS) return;
      this.signature = signature;
      this.builtAt = Date.now();
      const [view, pass] = await Promise.all([this.source.view(), this.source.lastPass()]);
      const previous = this.last;
      this.last = { view, pass };
      if (previous?.view === view && previous.pass === pass) return;
      this.broadcast(this.message(this.last, previous));
    } catch (error) {
      this.signature = ''; // try again on the next poll
      this.source.onError(error as Error);
    } finally {
      this.polling = false;
    }
  }

  private message(now: { view: string; pass: string }, before?: { view: string; pass: string }): string {
    return `${before?.pass === now.pass ? '' : `event: pass\ndata: ${now.pass}\n\n`}${before?.view === now.view ? '' : `event: view\ndata: ${now.view}\n\n`}`;
  }

  private broadcast(text: string): void {
    if (!text) return;
    for (const client of this.clients) this.send(client, text);
  }

  private send(client: ServerResponse, text: string): void {
    if (client.writableNeedDrain) {
      client.destroy(); // it has not taken the last message yet: a reader this slow gets dropped
      this.clients.delete(client);
      return;
    }
    client.write(text);
  }
}
