// One file's text out of a tar (the Dockerfile of a packed context), without unpacking the rest.
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';

/** The text of `name` in `tarFile`, or undefined when it has no such regular file. */
export async function readTarEntry(tarFile: string, name: string, maxBytes: number): Promise<string | undefined> {
  const extract = tar.extract();
  let found: string | undefined;
  extract.on('entry', (header, stream, next) => {
    const entryName = header.name.replace(/^\.\//, '');
    if (entryName !== name || header.type !== 'file' || (header.size ?? 0) > maxBytes) {
      stream.on('end', next);
      stream.resume();
      return;
    }
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
    stream.on('end', () => {
      found = Buffer.concat(chunks).toString('utf8');
      next();
    });
  });
  await pipeline(createReadStream(tarFile), extract);
  return found;
}
