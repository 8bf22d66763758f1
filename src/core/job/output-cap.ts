// Keep the first `limit` bytes of an output stream, then one marker line, then nothing: what a
// log in the spool may hold. The caller keeps reading its stream (so the producer never
// blocks) and writes only what `take` hands back.
import { readableSize } from '../units.js';

export interface OutputCap {
  /** The bytes of `chunk` to keep, with the marker line once the limit is reached. */
  take(chunk: Uint8Array): Uint8Array[];
  readonly cut: boolean;
}

const NEWLINE = 0x0a;

/** The line that ends a build's saved output once it reached builds.log_size. */
export function buildOutputCutMarker(logSize: number): string {
  return `dopq: build output cut at ${readableSize(logSize)} (builds.log_size); the build goes on\n`;
}

/** Cut after the last whole line that fits; a line begun earlier (or the only one) is cut mid-line. */
export function capOutput(limit: number, marker: string): OutputCap {
  let written = 0;
  let endsLine = true;
  let cut = false;
  const take = (chunk: Uint8Array): Uint8Array[] => {
    if (cut) return [];
    if (written + chunk.length <= limit) {
      written += chunk.length;
      if (chunk.length > 0) endsLine = chunk[chunk.length - 1] === NEWLINE;
      return [chunk];
    }
    const room = chunk.subarray(0, limit - written);
    const newline = room.lastIndexOf(NEWLINE);
    const kept = newline >= 0 ? room.subarray(0, newline + 1) : endsLine && written > 0 ? room.subarray(0, 0) : room;
    if (kept.length > 0) endsLine = kept[kept.length - 1] === NEWLINE;
    cut = true;
    return [kept, new TextEncoder().encode(`${endsLine ? '' : '\n'}${marker}`)];
  };
  return {
    take,
    get cut() {
      return cut;
    },
  };
}
