// Docker's newline-delimited JSON progress (build, load), read by dockerode's followProgress.
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';

/** One progress item: a piece of output, or the failure that ended the operation. */
export interface ProgressItem {
  stream?: string;
  error?: string;
  errorDetail?: { message?: string };
}

/** Calls `onItem` with each item until the stream ends; rejects when the stream fails. */
export function followProgress(docker: Docker, stream: NodeJS.ReadableStream, onItem: (item: ProgressItem) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(guarded(stream), (error: Error | null) => (error ? reject(error) : resolve()), onItem);
  });
}

type Listener = (...args: unknown[]) => void;

// followProgress parses each line inside its 'data' listener, where a line that is not JSON would
// throw to the process and take the daemon down: such a line ends the stream with an error instead.
function guarded(stream: NodeJS.ReadableStream): NodeJS.ReadableStream {
  const safe = new Map<Listener, Listener>();
  const wrap = (event: string | symbol, listener: Listener): Listener => {
    if (event !== 'data') return listener;
    const wrapped: Listener = (...args) => {
      try {
        listener(...args);
      } catch (error) {
        (stream as Readable).destroy(new Error(`the engine's progress holds a line that is not JSON (${(error as Error).message})`));
      }
    };
    safe.set(listener, wrapped);
    return wrapped;
  };
  // followProgress only adds and removes listeners: that is all it is handed.
  const view = {
    on(event: string | symbol, listener: Listener) {
      stream.on(event, wrap(event, listener));
      return view;
    },
    removeListener(event: string | symbol, listener: Listener) {
      stream.removeListener(event, safe.get(listener) ?? listener);
      return view;
    },
  };
  return view as unknown as NodeJS.ReadableStream;
}
