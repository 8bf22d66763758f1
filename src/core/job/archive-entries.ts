// A `docker save` archive's entries as the engine's extraction sees them (pure): names cleaned
// as it cleans them, links followed as it follows them, so a check made here holds for what the
// engine opens (an entry `x/../manifest.json` once re-pointed a shared tag).
import path from 'node:path';

const MAX_HOPS = 8;

/** The archive cannot be loaded as one untagged image; `entry` is the entry at fault, if one is. */
export class ArchiveRefused extends Error {
  constructor(
    readonly reason: string,
    readonly entry?: string,
  ) {
    super(`image archive: ${entry === undefined ? '' : `entry ${JSON.stringify(entry)} `}${reason}`);
    this.name = 'ArchiveRefused';
  }
}

export type EntryKind = 'file' | 'directory' | 'symlink' | 'link' | 'other';

export interface ArchiveEntry {
  /** Normalised: what the engine's extraction makes of the name. */
  name: string;
  /** As written in the tar, for messages. */
  raw: string;
  kind: EntryKind;
  size: number;
  linkname: string;
  /** Position in the tar: a hard link may only name an entry before it. */
  index: number;
}

/** Pass 1's picture of the archive: entries by normalised name, and every folder they imply. */
export interface ArchiveIndex {
  entries: Map<string, ArchiveEntry>;
  folders: Set<string>;
}

/** `x/../a`, `./a`, `/a` all name `a` once extracted; a name that climbs out is refused. */
export function normaliseEntryName(raw: string): string {
  const name = path.posix.normalize(raw.replace(/^\/+/, '')).replace(/\/+$/, '');
  if (name === '..' || name.startsWith('../')) throw new ArchiveRefused('climbs out of the archive (a ".." component)', raw);
  return name === '.' ? '' : name;
}

/** How a refusal names each kind of entry. */
export const KIND_TEXT: Record<EntryKind, string> = {
  file: 'regular file',
  directory: 'folder',
  symlink: 'symbolic link',
  link: 'hard link',
  other: 'device, FIFO or other special file',
};

function kindOf(type: string | null | undefined): EntryKind {
  return type === 'file' || type === 'directory' || type === 'symlink' || type === 'link' ? type : 'other';
}

/** Adds one tar header to `archive`; refuses a name that climbs out or is seen twice. */
export function recordEntry(
  archive: ArchiveIndex,
  header: { name: string; type?: string | null; size?: number; linkname?: string | null },
  index: number,
): ArchiveEntry | undefined {
  const name = normaliseEntryName(header.name);
  const kind = kindOf(header.type);
  if (name === '') {
    if (kind === 'directory') return undefined; // `./`: the root itself
    throw new ArchiveRefused('names the archive root itself, yet is not a folder', header.name);
  }
  const seen = archive.entries.get(name);
  // The engine keeps whichever comes last; which one we read must not be a guess.
  if (seen) throw new ArchiveRefused(`names ${JSON.stringify(name)}, as entry ${JSON.stringify(seen.raw)} already does`, header.name);
  const entry: ArchiveEntry = { name, raw: header.name, kind, size: header.size ?? 0, linkname: header.linkname ?? '', index };
  archive.entries.set(name, entry);
  for (let at = name.indexOf('/'); at >= 0; at = name.indexOf('/', at + 1)) archive.folders.add(name.slice(0, at));
  return entry;
}

/**
 * The regular-file entry the engine opens for `name`: symlinks followed component by component
 * relative to their folder (at most MAX_HOPS), hard links to an earlier regular file; anything
 * that leaves the archive, loops, or ends on something other than a regular file is refused.
 */
export function resolveFile(archive: ArchiveIndex, name: string, what: string): ArchiveEntry {
  const refuse = (reason: string, entry = name): never => {
    throw new ArchiveRefused(`${reason} (${what} in manifest.json)`, entry);
  };
  const parts = (text: string) => text.split('/').filter((part) => part !== '' && part !== '.');
  let pending = parts(name);
  const done: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      if (done.length === 0) refuse('leads out of the archive');
      done.pop();
      continue;
    }
    const here = [...done, part].join('/');
    const entry = archive.entries.get(here);
    if (entry?.kind === 'symlink' || entry?.kind === 'link') {
      if (++hops > MAX_HOPS) refuse(`leads through more than ${MAX_HOPS} links`);
    }
    if (entry?.kind === 'symlink') {
      if (entry.linkname.startsWith('/')) refuse(`is a link to the absolute path ${JSON.stringify(entry.linkname)}`, entry.raw);
      pending = [...parts(entry.linkname), ...pending];
      continue;
    }
    if (entry?.kind === 'link') {
      const target = archive.entries.get(normaliseEntryName(entry.linkname));
      if (pending.length > 0) refuse('is a hard link, used as a folder', entry.raw);
      if (target?.kind !== 'file' || target.index > entry.index)
        refuse(`is a hard link to ${JSON.stringify(entry.linkname)}, not to a regular file before it`, entry.raw);
      return target!;
    }
    if (pending.length > 0) {
      if (entry ? entry.kind !== 'directory' : !archive.folders.has(here))
        refuse(entry ? 'is used as a folder but is not one' : 'is used as a folder the archive does not hold', entry?.raw ?? here);
      done.push(part);
      continue;
    }
    if (!entry) return refuse('is not in the archive', here);
    if (entry.kind !== 'file') refuse(`is a ${KIND_TEXT[entry.kind]}, not a regular file`, entry.raw);
    return entry;
  }
  return refuse('names a folder, not a file');
}
