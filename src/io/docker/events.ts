// The engine's `die` events for this instance's containers, so an exit is seen at once; the
// daemon's reconcile timer covers whatever a broken connection misses.
import type Docker from 'dockerode';
import { LABEL_INSTANCE } from '../../core/job/container-spec.js';

/** Calls `onDie` with ids of this instance's containers that exited; reconnects until stopped. */
export function watchExits(
  docker: Docker,
  instance: string,
  onDie: (containerId: string) => void,
  onError: (error: Error) => void,
): () => void {
  let stopped = false;
  let since = Math.floor(Date.now() / 1000) - 1;
  let current: NodeJS.ReadableStream | undefined;
  let retry: NodeJS.Timeout | undefined;
  const connect = async () => {
    if (stopped) return;
    try {
      const stream = (await docker.getEvents({
        since,
        filters: { type: ['container'], event: ['die'], label: [`${LABEL_INSTANCE}=${instance}`] },
      })) as unknown as NodeJS.ReadableStream;
      current = stream;
      let buffered = '';
      stream.on('data', (chunk: Buffer) => {
        // A chunk may hold several JSON objects or half of one: split on newlines.
        buffered += chunk.toString('utf8');
        let newline;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (!line) continue;
          try {
            const event = JSON.parse(line) as { id?: string; time?: number };
            if (event.time) since = Math.max(since, event.time - 1);
            if (event.id) onDie(event.id);
          } catch {
            // not an event; the reconcile timer covers anything missed
          }
        }
      });
      const reconnect = () => {
        if (stopped || current !== stream) return;
        current = undefined;
        retry = setTimeout(() => void connect(), 1000);
      };
      stream.on('end', reconnect);
      stream.on('error', reconnect);
    } catch (error) {
      onError(error as Error);
      retry = setTimeout(() => void connect(), 2000);
    }
  };
  void connect();
  return () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    const stream = current as unknown as { destroy?: () => void } | undefined;
    current = undefined;
    stream?.destroy?.();
  };
}
