// A build context as the engine may unpack it: written anew by dopq from what it read. The tar a
// user leaves in the intake can say anything (two entries named Dockerfile, `x/../Dockerfile`, a
// symlink named Dockerfile): the engine cleans names, keeps the last of two and follows links
// inside the context, so the Dockerfile dopq checked would not be the one it builds. Push packs
// only plain files and folders under clean names; anything else was not made by push.
import { createReadStream, createWriteStream } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';

export class ContextRefused extends Error {}

/** Why `name` is not a name push writes (relative, clean, no `.` or `..` parts), or undefined. */
export function contextNameProblem(name: string): string | undefined {
  if (name === '' || name.startsWith('/')) return 'is not a relative name';
  if (name.split('/').some((part) => part === '' || part === '.' || part === '..')) return 'is not a clean name (empty, . or .. parts)';
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'has control characters in its name';
  return undefined;
}

/** Copy the context `src` into `dst` entry by entry, refusing anything push would not have packed. */
export async function cleanBuildContext(src: string, dst: string): Promise<void> {
  const extract = tar.extract();
  const pack = tar.pack();
  const seen = new Set<string>();
  // The first refusal is kept and the rest of the tar only drained: an error handed to the tar
  // streams mid-entry would surface as an 'error' event nobody listens to.
  let refusal: ContextRefused | undefined;
  extract.on('entry', (header, stream, next) => {
    const skip = () => {
      stream.on('end', () => next());
      stream.resume();
    };
    if (refusal) return skip();
    const isDir = header.type === 'directory';
    const name = isDir ? header.name.replace(/\/$/, '') : header.name;
    const problem =
      header.type !== 'file' && !isDir
        ? `is a ${header.type ?? 'special entry'}`
        : (contextNameProblem(name) ?? (seen.has(name) ? 'appears twice' : undefined));
    if (problem) {
      refusal = new ContextRefused(
        `the build context's entry ${JSON.stringify(header.name)} ${problem}; push packs only plain files and folders`,
      );
      return skip();
    }
    seen.add(name);
    const mode = isDir ? 0o755 : 0o644 | ((header.mode ?? 0) & 0o111);
    const common = { name: isDir ? `${name}/` : name, mode, mtime: header.mtime ?? new Date(0), uid: 0, gid: 0 };
    if (isDir) {
      pack.entry({ ...common, type: 'directory' });
      return skip();
    }
    stream.pipe(pack.entry({ ...common, type: 'file', size: header.size ?? 0 }, () => next()));
  });
  extract.on('finish', () => pack.finalize());
  extract.on('error', (error) => pack.destroy(error));
  const reading = pipeline(createReadStream(src), extract);
  const writing = pipeline(pack, createWriteStream(dst, { mode: 0o600 }));
  try {
    await Promise.all([reading, writing]);
  } catch (error) {
    throw new ContextRefused(`the build context ${path.basename(src)} is not a readable tar: ${(error as Error).message}`);
  }
  if (refusal) throw refusal;
}
