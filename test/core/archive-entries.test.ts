// An archive's entries as the engine's extraction sees them, without a tar: names, duplicates,
// folders they imply, and links followed to a regular file.
import test from 'ava';
import { ArchiveRefused, normaliseEntryName, recordEntry, resolveFile, type ArchiveIndex } from '../../src/core/job/archive-entries.js';

type Header = { name: string; type?: string; size?: number; linkname?: string };

function indexOf(headers: Header[]): ArchiveIndex {
  const archive: ArchiveIndex = { entries: new Map(), folders: new Set() };
  headers.forEach((header, i) => recordEntry(archive, { type: 'file', ...header }, i));
  return archive;
}

test('names are normalised as extracted; one that climbs out is refused with its raw name', (t) => {
  for (const [raw, name] of [
    ['a', 'a'],
    ['./a', 'a'],
    ['/a', 'a'],
    ['//a/b/', 'a/b'],
    ['x/../a', 'a'],
    ['./', ''],
  ] as const)
    t.is(normaliseEntryName(raw), name, raw);
  for (const raw of ['..', '../a', 'a/../../b', '/../a']) {
    const error = t.throws(() => normaliseEntryName(raw), { instanceOf: ArchiveRefused }, raw);
    t.is(error?.entry, raw);
    t.regex(error?.message ?? '', /climbs out of the archive/);
  }
});

test('an entry records its kind and the folders it implies; the root folder is skipped', (t) => {
  const archive: ArchiveIndex = { entries: new Map(), folders: new Set() };
  t.is(recordEntry(archive, { name: './', type: 'directory' }, 0), undefined);
  const entry = recordEntry(archive, { name: './a/b/c.tar', type: 'file', size: 3 }, 1);
  t.deepEqual(entry, { name: 'a/b/c.tar', raw: './a/b/c.tar', kind: 'file', size: 3, linkname: '', index: 1 });
  t.deepEqual([...archive.folders].sort(), ['a', 'a/b']);
  t.is(recordEntry(archive, { name: 'dev', type: 'character-device' }, 2)?.kind, 'other');
});

test('a name seen twice under any spelling, or the root as a file, is refused', (t) => {
  t.throws(() => indexOf([{ name: 'manifest.json' }, { name: 'x/../manifest.json' }]), {
    instanceOf: ArchiveRefused,
    message: /entry "x\/\.\.\/manifest\.json" names "manifest\.json", as entry "manifest\.json" already does/,
  });
  t.throws(() => indexOf([{ name: './', type: 'file' }]), { message: /names the archive root itself, yet is not a folder/ });
});

test('links resolve inside the archive to a regular file, or are refused saying why', (t) => {
  const archive = indexOf([
    { name: 'blobs/config', type: 'file', size: 10 },
    { name: 'config.json', type: 'symlink', linkname: 'blobs/config' },
    { name: 'dir', type: 'symlink', linkname: 'blobs' },
    { name: 'hard', type: 'link', linkname: 'blobs/config' },
    { name: 'early', type: 'link', linkname: 'late' },
    { name: 'late', type: 'file' },
    { name: 'abs', type: 'symlink', linkname: '/etc/passwd' },
    { name: 'loop', type: 'symlink', linkname: 'loop' },
    { name: 'folder', type: 'directory' },
  ]);
  for (const name of ['blobs/config', 'config.json', 'dir/config', 'hard', './blobs/../blobs/config'])
    t.is(resolveFile(archive, name, 'its Config').name, 'blobs/config', name);
  const refused: [string, RegExp][] = [
    ['../x', /leads out of the archive \(its Config in manifest\.json\)/],
    ['abs', /is a link to the absolute path "\/etc\/passwd"/],
    ['loop', /leads through more than 8 links/],
    ['early', /is a hard link to "late", not to a regular file before it/],
    ['hard/x', /is a hard link, used as a folder/],
    ['missing', /is not in the archive/],
    ['nowhere/x', /is used as a folder the archive does not hold/],
    ['late/x', /is used as a folder but is not one/],
    ['folder', /is a folder, not a regular file/],
    ['', /names a folder, not a file/],
  ];
  for (const [name, message] of refused)
    t.throws(() => resolveFile(archive, name, 'its Config'), { instanceOf: ArchiveRefused, message }, name);
});
