// A pipeline stage that passes bytes through while counting and hashing them, and stops the
// pipeline once more than a limit went by: for every file dopq copies on a user's behalf.

export interface Digest {
  bytes: number;
  sha256: string;
}

export function digestThrough(
  maxBytes: number,
  tooBig: () => Error,
): { stage: (source: AsyncIterable<unknown>) => AsyncGenerator<Buffer>; digest(): Digest } {
  // node:crypto loaded when a digest is first made, not with this module: `dopq q` imports it
  // (through safe-read.ts) and never hashes, and loading crypto costs a fresh process ~12 ms.
  const hash = process.getBuiltinModule('node:crypto').createHash('sha256');
  let bytes = 0;
  return {
    async *stage(source) {
      for await (const item of source) {
        const chunk = item as Buffer;
        bytes += chunk.length;
        if (bytes > maxBytes) throw tooBig();
        hash.update(chunk);
        yield chunk;
      }
    },
    digest: () => ({ bytes, sha256: hash.digest('hex') }),
  };
}
