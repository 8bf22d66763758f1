// What dopq decides about an archive from what pass 1 read, without a tar or an engine: the
// manifest, the config, the archive's first bytes, each layer's data, and pass 2's layout.
import { createHash } from 'node:crypto';
import test from 'ava';
import { ArchiveRefused, recordEntry, type ArchiveIndex } from '../../src/core/job/archive-entries.js';
import {
  checkArchiveHead,
  cleanLayout,
  describeImage,
  keptInPass1,
  KEEP_BUDGET,
  locateImage,
  manifestEntry,
  MAX_CONFIG,
  MAX_MANIFEST,
  parseArchiveManifest,
  parseImageConfig,
  type EntryDigest,
} from '../../src/core/job/image-archive-check.js';

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');
const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const LAYER = Buffer.from('layer bytes');
const DIFF_ID = `sha256:${sha256(LAYER)}`;

function indexOf(headers: { name: string; type?: string; size?: number; linkname?: string }[]): ArchiveIndex {
  const archive: ArchiveIndex = { entries: new Map(), folders: new Set() };
  headers.forEach((header, i) => recordEntry(archive, { type: 'file', ...header }, i));
  return archive;
}

test('manifest.json must be there, a regular file, and small; else what the tar is instead', (t) => {
  t.is(manifestEntry(indexOf([{ name: './manifest.json', size: 10 }])).raw, './manifest.json');
  const refused: [Parameters<typeof indexOf>[0], RegExp][] = [
    [[{ name: 'index.json' }], /is an OCI image layout without manifest\.json/],
    [[{ name: 'oci-layout' }], /is an OCI image layout/],
    [[{ name: 'repositories' }], /is a legacy `docker save` archive/],
    [[{ name: 'a.txt' }], /has no manifest\.json: it is not a `docker save` archive/],
    [[{ name: 'manifest.json', type: 'symlink', linkname: 'm' }], /is a symbolic link; manifest\.json must be a regular file/],
    [[{ name: 'manifest.json', size: MAX_MANIFEST + 1 }], new RegExp(`is ${MAX_MANIFEST + 1} bytes; the limit is ${MAX_MANIFEST}`)],
  ];
  for (const [headers, message] of refused) t.throws(() => manifestEntry(indexOf(headers)), { instanceOf: ArchiveRefused, message });
});

test('the manifest lists exactly one image with a Config path and a Layers list', (t) => {
  t.deepEqual(parseArchiveManifest(JSON.stringify([{ Config: 'c.json', Layers: ['1/layer.tar'], RepoTags: ['x:y'] }])), {
    config: 'c.json',
    layers: ['1/layer.tar'],
  });
  const refused: [string, RegExp][] = [
    ['{', /is not JSON/],
    ['{}', /is not a JSON array of images/],
    ['[]', /lists 0 images; a job runs one image/],
    ['[{"Config":"a","Layers":[]},{"Config":"b","Layers":[]}]', /lists 2 images/],
    ['[null]', /has no Config path/],
    ['[{"Config":"","Layers":[]}]', /has no Config path/],
    ['[{"Config":"a"}]', /has no Layers list of paths/],
    ['[{"Config":"a","Layers":[1]}]', /has no Layers list of paths/],
  ];
  for (const [text, message] of refused)
    t.throws(
      () => parseArchiveManifest(text),
      { instanceOf: ArchiveRefused, message: new RegExp(`entry "manifest\\.json" ${message.source}`) },
      text,
    );
});

test("the config's rootfs.diff_ids are read as the engine's case-folding decoder would", (t) => {
  t.deepEqual(parseImageConfig(json({ rootfs: { type: 'layers', diff_ids: [DIFF_ID] } }), 'c.json'), [DIFF_ID]);
  const refused: [Buffer, RegExp][] = [
    [Buffer.from('nope'), /\(the image config\) is not JSON/],
    [json([1]), /is not a JSON object/],
    [json({}), /has no "rootfs"/],
    [json({ RootFS: { diff_ids: [] } }), /spells "rootfs" as "RootFS"; write it once, in lower case/],
    [json({ rootfs: { diff_ids: [] }, RootFS: { diff_ids: [] } }), /spells "rootfs" as "rootfs", "RootFS"/],
    [json({ rootfs: { diff_ids: [], diff_idſ: [] } }), /spells "diff_ids" as "diff_ids", "diff_id\u017f"/],
    [json({ rootfs: [] }), /has no rootfs object/],
    [json({ rootfs: { diff_ids: ['sha256:short'] } }), /rootfs\.diff_ids that are not a list of sha256:<hex> digests/],
  ];
  for (const [bytes, message] of refused) t.throws(() => parseImageConfig(bytes, 'c.json'), { instanceOf: ArchiveRefused, message });
});

test('a compressed archive is refused by name; a plain tar (or a short file) passes', (t) => {
  for (const [head, kind] of [
    [[0x1f, 0x8b], 'gzip'],
    [[0x42, 0x5a, 0x68, 0x39], 'bzip2'],
    [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 'xz'],
    [[0x28, 0xb5, 0x2f, 0xfd, 0, 0], 'zstd'],
  ] as const)
    t.throws(() => checkArchiveHead(Uint8Array.from(head)), {
      instanceOf: ArchiveRefused,
      message: new RegExp(`is ${kind}-compressed; .* decompress it first`),
    });
  t.notThrows(() => checkArchiveHead(Buffer.from('manife')));
  t.notThrows(() => checkArchiveHead(Uint8Array.from([0x1f])));
});

test('pass 1 keeps manifest.json and small files within the budget, nothing else', (t) => {
  const file = (name: string, size: number) => ({ name, raw: name, kind: 'file' as const, size, linkname: '', index: 0 });
  t.true(keptInPass1(file('manifest.json', MAX_MANIFEST), KEEP_BUDGET));
  t.false(keptInPass1(file('manifest.json', MAX_MANIFEST + 1), 0));
  t.true(keptInPass1(file('c.json', MAX_CONFIG), 0));
  t.false(keptInPass1(file('c.json', MAX_CONFIG + 1), 0));
  t.false(keptInPass1(file('c.json', 10), KEEP_BUDGET - 9));
  t.true(keptInPass1(file('c.json', 10), KEEP_BUDGET - 10));
});

test('the image is its config by hash, with each layer holding its diff_id; else refused', (t) => {
  const config = json({ rootfs: { type: 'layers', diff_ids: [DIFF_ID, DIFF_ID] } });
  const archive = indexOf([
    { name: 'c.json', size: config.length },
    { name: 'l/layer.tar', size: LAYER.length },
    { name: 'again.tar', type: 'symlink', linkname: 'l/layer.tar' },
  ]);
  const located = locateImage(archive, JSON.stringify([{ Config: 'c.json', Layers: ['l/layer.tar', 'again.tar'] }]));
  t.deepEqual(
    located.layers.map((entry) => entry.name),
    ['l/layer.tar', 'l/layer.tar'],
  );
  const digests = new Map<string, EntryDigest>([['l/layer.tar', { sha256: sha256(LAYER), compression: 'none' }]]);
  const image = describeImage(located, config, digests);
  t.is(image.id, `sha256:${sha256(config)}`);
  t.deepEqual(image.diffIds, [DIFF_ID, DIFF_ID]);
  t.deepEqual(image.layers, [
    { entry: 'l/layer.tar', size: LAYER.length, sha256: sha256(LAYER) },
    { entry: 'l/layer.tar', size: LAYER.length, sha256: sha256(LAYER) },
  ]);

  t.throws(() => describeImage(located, undefined, digests), { message: /entry "c\.json" changed while it was being read/ });
  t.throws(() => describeImage(located, Buffer.concat([config, Buffer.from(' ')]), digests), {
    message: /changed while it was being read/,
  });
  const oneLayer = json({ rootfs: { type: 'layers', diff_ids: [DIFF_ID] } });
  t.throws(() => describeImage({ ...located, config: { ...located.config, size: oneLayer.length } }, oneLayer, digests), {
    message: /lists 2 layers, but its config has 1 rootfs\.diff_ids/,
  });
  t.throws(() => describeImage(located, config, new Map()), { message: /layer 0 \(entry "l\/layer\.tar"\) was not read/ });
  const big = indexOf([{ name: 'c.json', size: MAX_CONFIG + 1 }]);
  t.throws(() => locateImage(big, JSON.stringify([{ Config: 'c.json', Layers: [] }])), {
    message: new RegExp(`\\(the image config\\) is ${MAX_CONFIG + 1} bytes; the limit is ${MAX_CONFIG}`),
  });
});

test("pass 2's layout: the config by its hex, each layer file once, a manifest without tags", (t) => {
  const id = `sha256:${'ab'.repeat(32)}`;
  const layer = (entry: string, sha: string) => ({ entry, size: 5, sha256: sha });
  const layout = cleanLayout({
    id,
    diffIds: [],
    config: Buffer.from('{}'),
    layers: [layer('x/a.tar', 'a'), layer('b.tar', 'b'), layer('x/a.tar', 'a')],
  });
  t.is(layout.configName, `${'ab'.repeat(32)}.json`);
  t.deepEqual(JSON.parse(layout.manifest.toString('utf8')), [
    { Config: layout.configName, RepoTags: null, Layers: ['0/layer.tar', '1/layer.tar', '0/layer.tar'] },
  ]);
  t.deepEqual(
    [...layout.slots],
    [
      ['x/a.tar', { n: 0, size: 5, sha256: 'a' }],
      ['b.tar', { n: 1, size: 5, sha256: 'b' }],
    ],
  );
});
