// DoPQ's drop format: a zip (or a folder) holding a Dockerfile and container_config.json. A zip is
// unpacked, as the pushing user, into a private temp folder; entries with absolute paths, `..`
// or links (zip slip) are refused, and so are archives over the size, file-count or compression
// ratio limits (zip bombs), before anything is written.
import { constants } from 'node:fs';
import { lstat, mkdir, mkdtemp, open, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import { ContextError } from './context-pack.js';

export interface BundleLimits {
  bytes: number;
  files: number;
  /** Largest uncompressed/compressed ratio of one entry above 1 MiB. */
  ratio: number;
}

export interface DopqBundle {
  /** The folder holding container_config.json: the build context. */
  folder: string;
  configFile: string;
  dockerfile?: string;
  archive?: string;
  cleanup(): Promise<void>;
}

// yauzl 3's promise API (openPromise, eachEntry, openReadStreamPromise); @types/yauzl describes 2.x.
interface ZipEntry {
  fileName: string;
  externalFileAttributes: number;
  uncompressedSize: number;
  compressedSize: number;
}
interface Zip {
  eachEntry(): AsyncIterable<ZipEntry>;
  openReadStreamPromise(entry: ZipEntry): Promise<NodeJS.ReadableStream>;
  close(): void;
}
const openZip = (file: string, options: Record<string, boolean>): Promise<Zip> =>
  (yauzl as unknown as { openPromise(file: string, options: object): Promise<Zip> }).openPromise(file, { ...options, autoClose: false });

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

/** Every problem with the zip's entries, without unpacking anything. */
async function checkZip(zipFile: string, limits: BundleLimits): Promise<void> {
  const zip = await openZip(zipFile, { lazyEntries: true, strictFileNames: false, validateEntrySizes: true, decodeStrings: false });
  const problems: string[] = [];
  let files = 0;
  let bytes = 0;
  try {
    for await (const entry of zip.eachEntry()) {
      const name = (entry.fileName as unknown as Buffer).toString('utf8');
      const badName = yauzl.validateFileName(name);
      if (badName || name.split('/').includes('..')) problems.push(`${name}: ${badName ?? 'leaves the folder'} (zip slip)`);
      if (((entry.externalFileAttributes >>> 16) & S_IFMT) === S_IFLNK)
        problems.push(`${name}: is a symbolic link; dopq unpacks only files and folders`);
      if (name.endsWith('/')) continue;
      files += 1;
      bytes += entry.uncompressedSize;
      if (entry.uncompressedSize > 1024 * 1024 && entry.uncompressedSize > entry.compressedSize * limits.ratio) {
        problems.push(
          `${name}: unpacks ${entry.uncompressedSize} bytes from ${entry.compressedSize} (over ${limits.ratio}:1, a zip bomb?)`,
        );
      }
    }
  } finally {
    zip.close();
  }
  if (files > limits.files) problems.push(`the zip holds ${files} files; the limit is ${limits.files} (builds.context_files)`);
  if (bytes > limits.bytes) problems.push(`the zip unpacks to ${bytes} bytes; the limit is ${limits.bytes} (builds.context_size)`);
  if (problems.length > 0) throw new ContextError(problems);
}

async function unzip(zipFile: string, target: string): Promise<void> {
  const zip = await openZip(zipFile, { lazyEntries: true, strictFileNames: true, validateEntrySizes: true });
  try {
    for await (const entry of zip.eachEntry()) {
      const destination = path.join(target, entry.fileName);
      if (!destination.startsWith(`${target}${path.sep}`)) throw new ContextError([`${entry.fileName}: leaves the folder (zip slip)`]);
      if (entry.fileName.endsWith('/')) {
        await mkdir(destination, { recursive: true, mode: 0o755 });
        continue;
      }
      await mkdir(path.dirname(destination), { recursive: true, mode: 0o755 });
      // Readable in the image whoever runs it (the temp folder itself is the user's alone); keep
      // the zip's execute bits.
      const mode = 0o644 | ((entry.externalFileAttributes >>> 16) & 0o111);
      const file = await open(destination, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
      await pipeline(await zip.openReadStreamPromise(entry), file.createWriteStream());
    }
  } finally {
    zip.close();
  }
}

/** container_config.json at the top, else the only one below (as DoPQ looked for it). */
async function findConfig(root: string): Promise<string> {
  const found: string[] = [];
  const visit = async (folder: string): Promise<void> => {
    for (const name of await readdir(folder)) {
      const full = path.join(folder, name);
      const info = await lstat(full);
      if (info.isDirectory()) await visit(full);
      else if (name === 'container_config.json') found.push(full);
    }
  };
  if ((await lstat(path.join(root, 'container_config.json')).catch(() => undefined))?.isFile())
    return path.join(root, 'container_config.json');
  await visit(root);
  if (found.length !== 1)
    throw new ContextError([
      `container_config.json: ${found.length === 0 ? 'not found' : `found ${found.length}, which is ambiguous`}; put one at the top`,
    ]);
  return found[0]!;
}

export async function openDopqBundle(input: string, limits: BundleLimits): Promise<DopqBundle> {
  let root = input;
  let cleanup = async () => {};
  if (!(await lstat(input)).isDirectory()) {
    await checkZip(input, limits);
    root = await mkdtemp(path.join(tmpdir(), 'dopq-zip-'));
    cleanup = () => rm(root, { recursive: true, force: true });
    try {
      await unzip(input, root);
    } catch (error) {
      await cleanup();
      throw error;
    }
  }
  try {
    const configFile = await findConfig(root);
    const folder = path.dirname(configFile);
    const names = await readdir(folder);
    const dockerfile = names.includes('Dockerfile')
      ? 'Dockerfile'
      : names.filter((n) => n.includes('Dockerfile')).length === 1
        ? names.find((n) => n.includes('Dockerfile'))
        : undefined;
    const tars = names.filter((n) => n.endsWith('.tar'));
    return { folder, configFile, ...(dockerfile ? { dockerfile } : {}), ...(tars.length === 1 ? { archive: tars[0]! } : {}), cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

export async function readBundleConfig(bundle: DopqBundle): Promise<string> {
  return readFile(bundle.configFile, 'utf8');
}
