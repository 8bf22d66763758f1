// `docker save` archives as dopq loads them: the archive's own tags are stripped on the way in
// (a user's archive tagged pytorch/pytorch:2.3 would otherwise replace that image for everyone),
// and the loaded image is then tagged for its job only.
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';

/** A readable tar like `archive`, without `repositories` and with every RepoTags emptied. */
export function untaggedArchive(archive: string): NodeJS.ReadableStream {
  const extract = tar.extract();
  const pack = tar.pack();
  extract.on('entry', (header, stream, next) => {
    const name = header.name.replace(/^\.\//, '');
    if (name === 'repositories') {
      stream.on('end', next);
      stream.resume();
      return;
    }
    if (name === 'manifest.json' || name === 'index.json') {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
      stream.on('end', () => {
        const body = Buffer.from(stripTags(name, Buffer.concat(chunks).toString('utf8')));
        pack.entry({ ...header, size: body.length }, body, next);
      });
      return;
    }
    stream.pipe(pack.entry(header, next));
  });
  extract.on('finish', () => pack.finalize());
  void pipeline(createReadStream(archive), extract).catch((error: Error) => pack.destroy(error));
  return pack as unknown as NodeJS.ReadableStream;
}

function stripTags(name: string, text: string): string {
  const value = JSON.parse(text) as unknown;
  if (name === 'manifest.json' && Array.isArray(value)) return JSON.stringify(value.map((entry: Record<string, unknown>) => ({ ...entry, RepoTags: null })));
  if (name === 'index.json' && value && typeof value === 'object') {
    const index = value as { manifests?: { annotations?: Record<string, string> }[] };
    for (const manifest of index.manifests ?? []) {
      if (manifest.annotations) {
        delete manifest.annotations['io.containerd.image.name'];
        delete manifest.annotations['org.opencontainers.image.ref.name'];
      }
    }
    return JSON.stringify(index);
  }
  return text;
}
