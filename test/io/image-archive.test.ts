// Image archives against the real engine: crafted `docker save` tars whose entry names, links or
// manifests try to carry tags past dopq are refused or rebuilt, and what is loaded is untagged.
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import test from 'ava';
import Docker from 'dockerode';
import tar from 'tar-stream';
import {
  ArchiveRefused,
  normaliseEntryName,
  recordEntry,
  resolveFile,
  type ArchiveEntry,
  type ArchiveIndex,
} from '../../src/core/job/archive-entries.js';
import { checkLayer, compressionOf, type EntryDigest } from '../../src/core/job/image-archive-check.js';
import { cleanArchive, inspectArchive, untaggedArchive } from '../../src/io/docker/image-archive.js';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const SHARED = process.env['DOPQ_BUSYBOX_IMAGE'] ?? 'dopq-busybox:latest';

interface Entry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo';
  linkname?: string;
  body?: Buffer;
}

let dir = '';
let sharedId = '';
let saved: Entry[] = [];
let configName = '';
let layerNames: string[] = [];

async function readTar(file: string): Promise<Entry[]> {
  const entries: Entry[] = [];
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
    stream.on('end', () => {
      entries.push({
        name: header.name,
        type: header.type as Entry['type'],
        linkname: header.linkname ?? undefined,
        body: Buffer.concat(chunks),
      });
      next();
    });
  });
  await pipeline(createReadStream(file), extract);
  return entries;
}

function packTar(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    if (type === 'file') pack.entry({ name: entry.name, mode: 0o644 }, entry.body ?? Buffer.alloc(0));
    else pack.entry({ name: entry.name, type, linkname: entry.linkname, mode: type === 'directory' ? 0o755 : 0o644 });
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    pack.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
    pack.on('end', () => resolve(Buffer.concat(chunks)));
    pack.on('error', reject);
  });
}

let counter = 0;
async function writeTar(entries: Entry[]): Promise<string> {
  const file = path.join(dir, `crafted-${++counter}.tar`);
  await writeFile(file, await packTar(entries));
  return file;
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const body = (name: string) => saved.find((e) => e.name === name)!.body!;
const layerBodies = () => saved.filter((e) => /\/layer\.tar$/.test(e.name));

/** A config like the shared image's with one Env more: another image ID, the same layers. */
function attackerConfig(label: string): { name: string; bytes: Buffer; id: string } {
  const config = JSON.parse(body(configName).toString('utf8')) as { config: { Env?: string[] } };
  config.config.Env = [...(config.config.Env ?? []), `DOPQ_ATTACK=${label}-${process.pid}`];
  const bytes = json(config);
  const hex = createHash('sha256').update(bytes).digest('hex');
  return { name: `${hex}.json`, bytes, id: `sha256:${hex}` };
}

/** The saved image's layers and `config`, plus `manifest` under `manifestName` and `extra` entries. */
function archive(config: { name: string; bytes: Buffer }, manifestName: string, tags: string[], extra: Entry[] = []): Entry[] {
  return [
    ...layerBodies(),
    { name: config.name, body: config.bytes },
    { name: manifestName, body: json([{ Config: config.name, RepoTags: tags, Layers: layerNames }]) },
    ...extra,
  ];
}

async function refusal(t: import('ava').ExecutionContext, entries: Entry[] | string, pattern: RegExp): Promise<void> {
  const file = typeof entries === 'string' ? entries : await writeTar(entries);
  const error = await t.throwsAsync(inspectArchive(file), { instanceOf: ArchiveRefused });
  t.regex(error?.message ?? '', pattern);
}

async function drain(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

/** Loads `stream` into the engine; resolves with the ID it reports. */
async function load(stream: NodeJS.ReadableStream): Promise<string> {
  const text = (await drain((await docker.loadImage(stream)) as NodeJS.ReadableStream)).toString('utf8');
  const failed = /"error":"([^"]*)"/.exec(text);
  if (failed) throw new Error(failed[1]);
  const id = /Loaded image ID: (sha256:[a-f0-9]{64})/.exec(text)?.[1];
  if (!id) throw new Error(`the engine reported no untagged image: ${text}`);
  return id;
}

async function removeImage(id: string): Promise<void> {
  if (id === sharedId) return; // never the shared image
  await docker
    .getImage(id)
    .remove({ noprune: true })
    .catch(() => undefined);
}

const tagOf = async (name: string) => (await docker.getImage(name).inspect()).Id;

test.before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dopq-image-archive-'));
  const file = path.join(dir, 'saved.tar');
  await promisify(execFile)('docker', ['save', '-o', file, SHARED]);
  saved = await readTar(file);
  const manifest = JSON.parse(body('manifest.json').toString('utf8')) as [{ Config: string; Layers: string[] }];
  configName = manifest[0].Config;
  layerNames = manifest[0].Layers;
  sharedId = await tagOf(SHARED);
});

test.after.always(async () => {
  await rm(dir, { recursive: true, force: true });
});

// ---- names and links, without the engine ----

test('entry names are normalised as the engine extracts them; a name that climbs out is refused', (t) => {
  for (const raw of [
    'manifest.json',
    './manifest.json',
    '/manifest.json',
    '//manifest.json',
    'x/../manifest.json',
    'x/./../manifest.json',
    './x/../manifest.json/',
  ]) {
    t.is(normaliseEntryName(raw), 'manifest.json', raw);
  }
  t.is(normaliseEntryName('./'), '');
  t.is(normaliseEntryName('a//b/'), 'a/b');
  for (const raw of ['../manifest.json', '/../manifest.json', 'a/../../manifest.json', '..']) {
    t.throws(() => normaliseEntryName(raw), { instanceOf: ArchiveRefused, message: /climbs out/ }, raw);
  }
});

function index(entries: { name: string; type: string; linkname?: string; size?: number }[]): ArchiveIndex {
  const archive: ArchiveIndex = { entries: new Map(), folders: new Set() };
  entries.forEach((entry, i) => recordEntry(archive, entry, i));
  return archive;
}

test('links are followed inside the archive only, at most 8 hops, to a regular file', (t) => {
  const archive = index([
    { name: 'blobs/real', type: 'file' },
    { name: 'a/layer.tar', type: 'symlink', linkname: '../blobs/real' },
    { name: 'b', type: 'symlink', linkname: 'a' },
    { name: 'hard', type: 'link', linkname: './blobs/real' },
    { name: 'loop1', type: 'symlink', linkname: 'loop2' },
    { name: 'loop2', type: 'symlink', linkname: 'loop1' },
    { name: 'out', type: 'symlink', linkname: '../../etc/passwd' },
    { name: 'abs', type: 'symlink', linkname: '/blobs/real' },
    { name: 'dir', type: 'directory' },
    { name: 'fifo', type: 'fifo' },
    { name: 'early', type: 'link', linkname: 'late' },
    { name: 'late', type: 'file' },
  ]);
  t.is(resolveFile(archive, 'a/layer.tar', 'x').name, 'blobs/real');
  t.is(resolveFile(archive, 'b/layer.tar', 'x').name, 'blobs/real', 'a symlinked folder');
  t.is(resolveFile(archive, './a/../blobs/real', 'x').name, 'blobs/real');
  t.is(resolveFile(archive, 'hard', 'x').name, 'blobs/real');
  const refused = (name: string, pattern: RegExp) =>
    t.throws(() => resolveFile(archive, name, 'its Config'), { instanceOf: ArchiveRefused, message: pattern }, name);
  refused('loop1', /more than 8 links/);
  refused('out', /leads out of the archive/);
  refused('../blobs/real', /leads out of the archive/);
  refused('abs', /absolute path/);
  refused('dir', /folder, not a regular file/);
  refused('fifo', /special file, not a regular file/);
  refused('missing.json', /is not in the archive/);
  refused('blobs/real/x', /used as a folder/);
  refused('early', /not to a regular file before it/);
  t.throws(
    () =>
      index([
        { name: 'a', type: 'file' },
        { name: './x/../a', type: 'file' },
      ]),
    { instanceOf: ArchiveRefused, message: /already does/ },
  );
});

// ---- the issue's reproduction, against the real engine ----

test('x/../manifest.json claiming the shared tag: the engine honours it on a raw load (the hole)', async (t) => {
  // Proof that the attack is real on this engine, aimed at a private tag, never the shared one.
  const repo = `dopq-archive-decoy-${process.pid}`;
  const decoy = `${repo}:latest`;
  const config = attackerConfig('raw');
  t.teardown(async () => {
    await docker
      .getImage(decoy)
      .remove({ noprune: true })
      .catch(() => undefined);
    await removeImage(config.id);
  });
  await docker.getImage(SHARED).tag({ repo, tag: 'latest' });
  const file = await writeTar(archive(config, 'x/../manifest.json', [decoy]));
  await drain((await docker.loadImage(createReadStream(file))) as NodeJS.ReadableStream);
  t.is(await tagOf(decoy), config.id, 'the engine cleaned the name and moved the tag');
});

test('x/../manifest.json claiming the shared tag: cleaned, loaded untagged, the shared tag stays', async (t) => {
  const config = attackerConfig('dotdot');
  t.teardown(() => removeImage(config.id));
  const extra: Entry[] = [
    { name: 'repositories', body: json({ 'dopq-busybox': { latest: config.name.slice(0, 64) } }) },
    {
      name: 'index.json',
      body: json({
        schemaVersion: 2,
        manifests: [{ annotations: { 'io.containerd.image.name': 'docker.io/library/dopq-busybox:latest' } }],
      }),
    },
  ];
  const file = await writeTar(archive(config, 'x/../manifest.json', [SHARED], extra));
  const image = await inspectArchive(file);
  t.is(image.id, config.id, 'the ID is the sha256 of the config bytes');
  t.deepEqual(image.diffIds, (await docker.getImage(SHARED).inspect()).RootFS.Layers);
  t.is(await load(cleanArchive(file, image)), image.id);
  t.is(await tagOf(SHARED), sharedId, 'the shared tag did not move');
  t.deepEqual((await docker.getImage(image.id).inspect()).RepoTags ?? [], [], 'the loaded image has no tag');
});

for (const name of ['./manifest.json', '/manifest.json', 'a/b/../../manifest.json']) {
  test(`a manifest named ${name} claiming the shared tag is cleaned and loads untagged`, async (t) => {
    const config = attackerConfig(name);
    t.teardown(() => removeImage(config.id));
    const image = await inspectArchive(await writeTar(archive(config, name, [SHARED])));
    t.is(await load(cleanArchive(await writeTar(archive(config, name, [SHARED])), image)), config.id);
    t.is(await tagOf(SHARED), sharedId);
    t.deepEqual((await docker.getImage(config.id).inspect()).RepoTags ?? [], []);
  });
}

test('the cleaned tar holds only our manifest, the config and canonical layers, all 0644 files', async (t) => {
  const config = attackerConfig('listing');
  const file = await writeTar(
    archive(
      config,
      './manifest.json',
      [SHARED],
      [
        { name: 'repositories', body: json({}) },
        { name: 'oci-layout', body: json({}) },
      ],
    ),
  );
  const image = await inspectArchive(file);
  const cleaned = path.join(dir, 'cleaned.tar');
  await writeFile(cleaned, await drain(cleanArchive(file, image)));
  const entries = await readTar(cleaned);
  const hex = config.id.slice(7);
  t.deepEqual(
    entries.map((e) => e.name).sort(),
    [`${hex}.json`, '0/layer.tar', '1/layer.tar', '2/layer.tar', '3/layer.tar', 'manifest.json'].sort(),
  );
  t.true(entries.every((e) => e.type === 'file'));
  t.deepEqual(JSON.parse(entries.find((e) => e.name === 'manifest.json')!.body!.toString()), [
    { Config: `${hex}.json`, RepoTags: null, Layers: ['0/layer.tar', '1/layer.tar', '2/layer.tar', '3/layer.tar'] },
  ]);
  t.true(entries.find((e) => e.name === `${hex}.json`)!.body!.equals(config.bytes));
  t.true(entries.find((e) => e.name === '2/layer.tar')!.body!.equals(body(layerNames[2]!)));
  const pack = tar.extract();
  const modes: number[] = [];
  pack.on('entry', (header, stream, next) => {
    modes.push(header.mode ?? -1);
    stream.on('end', next);
    stream.resume();
  });
  await pipeline(createReadStream(cleaned), pack);
  t.true(modes.every((mode) => mode === 0o644));
});

test("the plain docker save loads as the shared image's own ID and adds no tag", async (t) => {
  const file = path.join(dir, 'saved.tar');
  const image = await inspectArchive(file);
  t.is(image.id, sharedId);
  t.deepEqual(image.diffIds, (await docker.getImage(SHARED).inspect()).RootFS.Layers);
  t.deepEqual(
    image.layers.map((layer) => `sha256:${layer.sha256}`),
    image.diffIds,
    'each saved layer is its uncompressed tar: its bytes hash to its diff_id',
  );
  t.is(await load(cleanArchive(file, image)), sharedId);
  t.is(await tagOf(SHARED), sharedId);
});

test('layers and config reached through symlinks and a hard link are resolved and load', async (t) => {
  const config = attackerConfig('links');
  t.teardown(() => removeImage(config.id));
  // In the manifest's order: each layer must hold its own diff_id's data.
  const [l0, l1, l2, l3] = layerNames.map(body);
  const entries: Entry[] = [
    { name: 'blobs/sha256/c', body: config.bytes },
    { name: 'blobs/sha256/l0', body: l0 },
    { name: 'blobs/sha256/l1', body: l1 },
    { name: 'real/layer.tar', body: l2 },
    { name: 'blobs/sha256/l3', body: l3 },
    { name: 'config.json', type: 'symlink', linkname: 'blobs/sha256/c' },
    { name: 'one/layer.tar', type: 'symlink', linkname: '../blobs/sha256/l1' },
    { name: 'two', type: 'symlink', linkname: 'real' },
    { name: 'three/layer.tar', type: 'link', linkname: 'blobs/sha256/l3' },
    {
      name: 'manifest.json',
      body: json([
        { Config: 'config.json', RepoTags: [SHARED], Layers: ['blobs/sha256/l0', 'one/layer.tar', 'two/layer.tar', 'three/layer.tar'] },
      ]),
    },
  ];
  const file = await writeTar(entries);
  const image = await inspectArchive(file);
  t.is(image.id, config.id);
  t.is(await load(cleanArchive(file, image)), config.id);
  t.is(await tagOf(SHARED), sharedId);
  t.deepEqual((await docker.getImage(config.id).inspect()).RepoTags ?? [], []);
});

test('a config met after the small-file budget is spent is read again, by name', async (t) => {
  const config = attackerConfig('budget');
  // Two 16 MiB files fill the 32 MiB that pass 1 keeps: the config after them is not kept.
  const filler = Array.from({ length: 2 }, (_, i) => ({ name: `filler/${i}`, body: Buffer.alloc(16 * 1024 * 1024) }));
  const image = await inspectArchive(await writeTar([...filler, ...archive(config, 'manifest.json', [SHARED])]));
  t.is(image.id, config.id);
  t.true(image.config.equals(config.bytes));
});

test('the compatibility stream (untaggedArchive) cleans as well, and fails with the refusal', async (t) => {
  const config = attackerConfig('compat');
  t.teardown(() => removeImage(config.id));
  t.is(await load(untaggedArchive(await writeTar(archive(config, 'x/../manifest.json', [SHARED])))), config.id);
  t.is(await tagOf(SHARED), sharedId);
  t.deepEqual((await docker.getImage(config.id).inspect()).RepoTags ?? [], []);
  const bad = await writeTar([...archive(config, 'manifest.json', [SHARED]), { name: 'x/../manifest.json', body: json([]) }]);
  await t.throwsAsync(load(untaggedArchive(bad)), { instanceOf: ArchiveRefused, message: /already does/ });
});

test('an archive changed after its check is refused by pass 2', async (t) => {
  const config = attackerConfig('changed');
  const file = await writeTar(archive(config, 'manifest.json', [SHARED]));
  const image = await inspectArchive(file);
  const shorter = archive(config, 'manifest.json', [SHARED]).map((e) =>
    e.name === layerNames[1] ? { ...e, body: e.body!.subarray(0, 512) } : e,
  );
  await writeFile(file, await packTar(shorter));
  await t.throwsAsync(drain(cleanArchive(file, image)), { instanceOf: ArchiveRefused, message: /changed since it was checked/ });
});

// ---- refusals ----

test('a second manifest under another spelling is refused, whichever comes first', async (t) => {
  const config = attackerConfig('second');
  const evil = { name: 'x/../manifest.json', body: json([{ Config: config.name, RepoTags: [SHARED], Layers: layerNames }]) };
  await refusal(
    t,
    [...saved, { name: config.name, body: config.bytes }, evil],
    /entry "x\/\.\.\/manifest\.json" names "manifest\.json", as entry "manifest\.json" already does/,
  );
  await refusal(t, [evil, ...saved], /entry "manifest\.json" names "manifest\.json", as entry "x\/\.\.\/manifest\.json" already does/);
  await refusal(t, [...saved, { name: 'manifest.json', body: evil.body }], /already does/);
  await refusal(t, [...saved, { name: './manifest.json', body: evil.body }], /already does/);
});

test('a manifest.json that is a link is refused', async (t) => {
  const config = attackerConfig('link');
  const others = saved.filter((e) => e.name !== 'manifest.json');
  const evil = { name: 'evil.json', body: json([{ Config: config.name, RepoTags: [SHARED], Layers: layerNames }]) };
  await refusal(
    t,
    [...others, { name: config.name, body: config.bytes }, evil, { name: 'manifest.json', type: 'symlink', linkname: 'evil.json' }],
    /entry "manifest\.json" is a symbolic link; manifest\.json must be a regular file/,
  );
  await refusal(
    t,
    [...others, { name: config.name, body: config.bytes }, evil, { name: 'manifest.json', type: 'link', linkname: 'evil.json' }],
    /is a hard link; manifest\.json must be a regular file/,
  );
  await refusal(t, [...others, { name: 'manifest.json', type: 'directory' }], /is a folder; manifest\.json must be a regular file/);
});

test('an entry name that climbs out of the archive is refused', async (t) => {
  await refusal(t, [...saved, { name: '../manifest.json', body: json([]) }], /entry "\.\.\/manifest\.json" climbs out of the archive/);
  await refusal(t, [...saved, { name: 'x/../../etc/cron.d/evil', body: json([]) }], /climbs out/);
});

test('Config and Layers paths must reach regular files inside the archive', async (t) => {
  const others = saved.filter((e) => e.name !== 'manifest.json');
  const manifest = (config: string, layers = layerNames) => ({
    name: 'manifest.json',
    body: json([{ Config: config, RepoTags: null, Layers: layers }]),
  });
  await refusal(t, [...others, manifest('missing.json')], /entry "missing\.json" is not in the archive \(its Config in manifest\.json\)/);
  await refusal(t, [...others, manifest(path.dirname(layerNames[0]!))], /is a folder, not a regular file/);
  await refusal(
    t,
    [...others, { name: 'c.json', type: 'symlink', linkname: '../../etc/passwd' }, manifest('c.json')],
    /leads out of the archive/,
  );
  await refusal(t, [...others, { name: 'c.json', type: 'symlink', linkname: '/etc/passwd' }, manifest('c.json')], /absolute path/);
  await refusal(
    t,
    [
      ...others,
      { name: 'a', type: 'symlink', linkname: 'b' },
      { name: 'b', type: 'symlink', linkname: 'a' },
      manifest(configName, ['a', ...layerNames.slice(1)]),
    ],
    /more than 8 links \(its Layers\[0\]/,
  );
  await refusal(
    t,
    [
      ...others,
      { name: 'l', type: 'link', linkname: 'later' },
      { name: 'later', body: Buffer.alloc(1) },
      manifest(configName, ['l', ...layerNames.slice(1)]),
    ],
    /not to a regular file before it/,
  );
  await refusal(
    t,
    [...others, { name: 'f', type: 'fifo' }, manifest(configName, ['f', ...layerNames.slice(1)])],
    /special file, not a regular file \(its Layers\[0\]/,
  );
});

test('a manifest must describe exactly one image with a Config and Layers', async (t) => {
  const others = saved.filter((e) => e.name !== 'manifest.json');
  const one = { Config: configName, RepoTags: null, Layers: layerNames };
  const config = attackerConfig('two');
  await refusal(
    t,
    [...others, { name: config.name, body: config.bytes }, { name: 'manifest.json', body: json([one, { ...one, Config: config.name }]) }],
    /lists 2 images; a job runs one image/,
  );
  await refusal(t, [...others, { name: 'manifest.json', body: json([]) }], /lists 0 images/);
  await refusal(t, [...others, { name: 'manifest.json', body: json(one) }], /not a JSON array/);
  await refusal(t, [...others, { name: 'manifest.json', body: Buffer.from('[{') }], /manifest\.json" is not JSON/);
  await refusal(t, [...others, { name: 'manifest.json', body: json([{ Layers: layerNames }]) }], /no Config path/);
  await refusal(t, [...others, { name: 'manifest.json', body: json([{ Config: configName, Layers: [1] }]) }], /no Layers list/);
  await refusal(
    t,
    [...others, { name: 'manifest.json', body: json([{ ...one, Layers: layerNames.slice(1) }]) }],
    /lists 3 layers, but its config has 4 rootfs\.diff_ids/,
  );
});

test('a config that is not JSON, too big, or ambiguous to the engine is refused', async (t) => {
  const withConfig = (bytes: Buffer) => archive({ name: 'c.json', bytes }, 'manifest.json', [SHARED]);
  await refusal(t, withConfig(Buffer.from('{"rootfs":')), /entry "c\.json" \(the image config\) is not JSON/);
  await refusal(t, withConfig(json([1])), /is not a JSON object/);
  await refusal(t, withConfig(json({ rootfs: { diff_ids: ['nope'] } })), /not a list of sha256:<hex> digests/);
  const real = JSON.parse(body(configName).toString()) as Record<string, unknown>;
  // Go's decoder would read the second spelling; JSON.parse the first.
  await refusal(
    t,
    withConfig(Buffer.from(JSON.stringify(real).replace(/}$/, ',"RootFS":{"type":"layers","diff_ids":[]}}'))),
    /spells "rootfs" as "rootfs", "RootFS"/,
  );
  await refusal(t, withConfig(Buffer.from(JSON.stringify(real).replace('"rootfs"', '"rootfſ"'))), /spells "rootfs" as "rootfſ"/);
  const big = Buffer.from(JSON.stringify({ ...real, padding: 'x'.repeat(16 * 1024 * 1024) }));
  await refusal(t, withConfig(big), /\(the image config\) is \d+ bytes; the limit is 16777216/);
});

test('what is not a docker save archive is refused, saying what it is', async (t) => {
  await refusal(
    t,
    [
      { name: 'oci-layout', body: json({ imageLayoutVersion: '1.0.0' }) },
      { name: 'index.json', body: json({ schemaVersion: 2, manifests: [] }) },
      { name: 'blobs/sha256/ab', body: json({}) },
    ],
    /is an OCI image layout without manifest\.json/,
  );
  const legacy = saved.filter((e) => e.name !== 'manifest.json');
  await refusal(t, legacy, /is a legacy `docker save` archive \(a repositories file, no manifest\.json\)/);
  await refusal(t, [{ name: 'hello.txt', body: Buffer.from('hi') }], /has no manifest\.json: it is not a `docker save` archive/);
  const junk = path.join(dir, 'junk.tar');
  await writeFile(junk, Buffer.alloc(4096, 7));
  await refusal(t, junk, /is not a readable tar file/);
  const gz = path.join(dir, 'saved.tar.gz');
  await writeFile(gz, gzipSync(await packTar(saved)));
  await refusal(t, gz, /is gzip-compressed; dopq loads the plain tar/);
});

// ---- layer content: every layer must carry its diff_id's data ----

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** A config like the shared image's, with one Env more and these diff_ids. */
function configWith(label: string, diffIds: string[]): { name: string; bytes: Buffer; id: string } {
  const config = JSON.parse(body(configName).toString('utf8')) as { config: { Env?: string[] }; rootfs: { diff_ids: string[] } };
  config.config.Env = [...(config.config.Env ?? []), `DOPQ_ATTACK=${label}-${process.pid}`];
  config.rootfs.diff_ids = diffIds;
  const bytes = json(config);
  const hex = sha256(bytes);
  return { name: `${hex}.json`, bytes, id: `sha256:${hex}` };
}

/** The saved archive with each layer file's body replaced by `swap(body, i)` (i in the manifest's order). */
function withLayers(config: { name: string; bytes: Buffer }, swap: (layer: Buffer, i: number) => Buffer): Entry[] {
  return archive(config, 'manifest.json', [], []).map((e) => {
    const i = layerNames.indexOf(e.name);
    return i < 0 ? e : { ...e, body: swap(e.body!, i) };
  });
}

/** A layer no image on the engine has: the engine must read it, not reuse a chain. */
async function freshLayer(label: string): Promise<{ body: Buffer; diffId: string }> {
  const layer = await packTar([
    { name: `dopq-fresh-${label}-${process.pid}`, body: Buffer.from(`${label} ${process.pid} ${Date.now()}\n`) },
  ]);
  return { body: layer, diffId: `sha256:${sha256(layer)}` };
}

const onEngine = (id: string) =>
  docker
    .getImage(id)
    .inspect()
    .then(
      () => true,
      () => false,
    );

test("compressionOf reads the engine's magic numbers; checkLayer wants the diff_id's data", (t) => {
  t.is(compressionOf(Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0])), 'gzip');
  t.is(compressionOf(Buffer.from([0x1f, 0x8b, 0x07])), 'none', 'the engine reads 1f 8b without deflate as a plain tar');
  t.is(compressionOf(Buffer.from('BZh91A')), 'bzip2');
  t.is(compressionOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])), 'xz');
  t.is(compressionOf(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0])), 'zstd');
  t.is(compressionOf(Buffer.from([0x5a, 0x2a, 0x4d, 0x18, 0, 0])), 'zstd', 'a zstd skippable frame');
  t.is(compressionOf(Buffer.from('bin/\0\0')), 'none');
  t.is(compressionOf(Buffer.alloc(0)), 'none');
  const entry: ArchiveEntry = { name: 'a/layer.tar', raw: './a/layer.tar', kind: 'file', size: 0, linkname: '', index: 0 };
  const empty = sha256(Buffer.alloc(0));
  const other = `sha256:${'a'.repeat(64)}`;
  const refused = (digest: EntryDigest | undefined, diffId: string, pattern: RegExp) =>
    t.throws(() => checkLayer(3, entry, digest, diffId), { instanceOf: ArchiveRefused, message: pattern });
  t.notThrows(() => checkLayer(0, entry, { sha256: empty, compression: 'none' }, `sha256:${empty}`));
  t.notThrows(() => checkLayer(0, entry, { sha256: 'b'.repeat(64), compression: 'gzip', inflated: { sha256: 'a'.repeat(64) } }, other));
  refused(
    { sha256: empty, compression: 'none' },
    other,
    /^image archive: layer 3 \(entry "\.\/a\/layer\.tar"\) does not hold its rootfs\.diff_id sha256:a{64} \(its data hashes to sha256:e3b0c442\w+\): the archive must carry every layer's data$/,
  );
  refused(
    { sha256: 'a'.repeat(64), compression: 'gzip', inflated: { sha256: empty } },
    other,
    /layer 3 \(entry "\.\/a\/layer\.tar", gzip-compressed\) does not hold its rootfs\.diff_id/,
  );
  refused(
    { sha256: empty, compression: 'gzip', inflated: { failed: 'it is not valid gzip (x)' } },
    other,
    /cannot be decompressed: it is not valid gzip/,
  );
  refused(
    { sha256: 'a'.repeat(64), compression: 'xz' },
    other,
    /layer 3 \(entry "\.\/a\/layer\.tar"\) is compressed with xz; save it uncompressed/,
  );
  refused(undefined, other, /was not read/);
});

test("the hole: on a raw load, layer files left empty get the engine's existing layers", async (t) => {
  // Proof that the attack is real on this engine: its loader skips a layer whose chain it has.
  const config = configWith('raw-empty', (await docker.getImage(SHARED).inspect()).RootFS.Layers!);
  t.teardown(() => removeImage(config.id));
  const file = await writeTar(withLayers(config, () => Buffer.alloc(0)));
  t.is(await load(createReadStream(file)), config.id, 'the engine loaded an image from empty layer files');
  t.deepEqual((await docker.getImage(config.id).inspect()).RootFS.Layers, (await docker.getImage(SHARED).inspect()).RootFS.Layers);
});

test('layer files that do not hold their diff_ids are refused before anything is loaded', async (t) => {
  const diffIds = (await docker.getImage(SHARED).inspect()).RootFS.Layers!;
  const config = configWith('empty', diffIds);
  const expect = (i: number) =>
    new RegExp(
      `layer ${i} \\(entry "${layerNames[i]!.replace(/[.]/g, '\\.')}"\\) does not hold its rootfs\\.diff_id ${diffIds[i]} \\(its data hashes to sha256:[a-f0-9]{64}\\): the archive must carry every layer's data`,
    );
  // Every layer empty; one layer empty; one layer other bytes of the same size; two layers swapped.
  await refusal(
    t,
    withLayers(config, () => Buffer.alloc(0)),
    expect(0),
  );
  await refusal(
    t,
    withLayers(config, (layer, i) => (i === 2 ? Buffer.alloc(0) : layer)),
    expect(2),
  );
  await refusal(
    t,
    withLayers(config, (layer, i) => (i === 3 ? Buffer.alloc(layer.length, 0) : layer)),
    expect(3),
  );
  const bodies = layerNames.map(body);
  await refusal(
    t,
    withLayers(config, (layer, i) => (i === 0 ? bodies[1]! : i === 1 ? bodies[0]! : layer)),
    expect(0),
  );
  // The compatibility stream fails with the same refusal, and the engine never got a byte.
  const file = await writeTar(withLayers(config, () => Buffer.alloc(0)));
  await t.throwsAsync(load(untaggedArchive(file)), { instanceOf: ArchiveRefused, message: expect(0) });
  t.false(await onEngine(config.id), 'no image was loaded');
});

test('the refusal is no oracle: a diff_id the engine has and one it lacks are refused alike', async (t) => {
  const diffIds = (await docker.getImage(SHARED).inspect()).RootFS.Layers!;
  const guess = `sha256:${sha256(Buffer.from(`a guess ${process.pid}`))}`;
  const messages: string[] = [];
  for (const [label, first] of [
    ['known', diffIds[0]!],
    ['guessed', guess],
  ] as const) {
    const config = configWith(`oracle-${label}`, [first, ...diffIds.slice(1)]);
    const error = await t.throwsAsync(inspectArchive(await writeTar(withLayers(config, () => Buffer.alloc(0)))), {
      instanceOf: ArchiveRefused,
    });
    messages.push(error!.message.replace(first, 'DIFF_ID'));
    t.false(await onEngine(config.id));
  }
  t.is(messages[0], messages[1]);
});

test('a gzip-compressed layer is checked by what it inflates to, and loads', async (t) => {
  const config = attackerConfig('gzip');
  t.teardown(() => removeImage(config.id));
  const file = await writeTar(
    archive(config, 'manifest.json', [SHARED]).map((e) => (layerNames.includes(e.name) ? { ...e, body: gzipSync(e.body!) } : e)),
  );
  const image = await inspectArchive(file);
  t.is(image.id, config.id);
  t.true(
    image.layers.every((layer, i) => `sha256:${layer.sha256}` !== image.diffIds[i]),
    'the stored bytes are gzip, not the tar',
  );
  t.is(await load(cleanArchive(file, image)), config.id);
  t.deepEqual((await docker.getImage(config.id).inspect()).RootFS.Layers, image.diffIds);
});

test('a new layer, plain or gzip-compressed, is read by the engine and loads', async (t) => {
  const diffIds = (await docker.getImage(SHARED).inspect()).RootFS.Layers!;
  for (const gzip of [false, true]) {
    const fresh = await freshLayer(gzip ? 'gz' : 'plain');
    const config = configWith(`fresh-${gzip}`, [...diffIds, fresh.diffId]);
    t.teardown(() => removeImage(config.id));
    const file = await writeTar([
      ...archive(config, 'manifest.json', [], []).filter((e) => e.name !== 'manifest.json'),
      { name: 'new/layer.tar', body: gzip ? gzipSync(fresh.body) : fresh.body },
      { name: 'manifest.json', body: json([{ Config: config.name, RepoTags: null, Layers: [...layerNames, 'new/layer.tar'] }]) },
    ]);
    const image = await inspectArchive(file);
    t.is(await load(cleanArchive(file, image)), config.id);
    t.deepEqual((await docker.getImage(config.id).inspect()).RootFS.Layers, [...diffIds, fresh.diffId]);
  }
});

test('a gzip layer that inflates to other data, or is no gzip at all, is refused', async (t) => {
  const diffIds = (await docker.getImage(SHARED).inspect()).RootFS.Layers!;
  const config = configWith('bad-gzip', diffIds);
  const bodies = layerNames.map(body);
  const gzipped = (i: number) =>
    new RegExp(
      `layer ${i} \\(entry "[^"]+", gzip-compressed\\) does not hold its rootfs\\.diff_id ${diffIds[i]} \\(its data hashes to sha256:[a-f0-9]{64}\\): the archive must carry every layer's data`,
    );
  await refusal(
    t,
    withLayers(config, (layer, i) => (i === 0 ? gzipSync(Buffer.alloc(0)) : layer)),
    gzipped(0),
  );
  await refusal(
    t,
    withLayers(config, (layer, i) => (i === 1 ? gzipSync(bodies[0]!) : layer)),
    gzipped(1),
  );
  await refusal(
    t,
    withLayers(config, (layer, i) => (i === 0 ? gzipSync(Buffer.concat([layer, Buffer.alloc(512)])) : layer)),
    gzipped(0),
  );
  const whole = gzipSync(bodies[0]!);
  await refusal(
    t,
    withLayers(config, (layer, i) => (i === 0 ? whole.subarray(0, whole.length - 100) : layer)),
    /layer 0 \(entry "[^"]+", gzip-compressed\) cannot be decompressed: it is not valid gzip \(unexpected end of file\)/,
  );
  await refusal(
    t,
    withLayers(config, (layer, i) => (i === 0 ? Buffer.concat([whole, Buffer.from('trailing junk')]) : layer)),
    /layer 0 .* cannot be decompressed: it is not valid gzip/,
  );
  await refusal(
    t,
    withLayers(config, (layer, i) => (i === 3 ? Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08]), Buffer.alloc(600, 7)]) : layer)),
    /layer 3 .* cannot be decompressed: it is not valid gzip/,
  );
  t.false(await onEngine(config.id));
});

test('layers compressed other than with gzip are refused by name', async (t) => {
  const config = configWith('other-compression', (await docker.getImage(SHARED).inspect()).RootFS.Layers!);
  const magic: [string, number[]][] = [
    ['bzip2', [0x42, 0x5a, 0x68, 0x39]],
    ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
    ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ];
  for (const [kind, bytes] of magic) {
    await refusal(
      t,
      withLayers(config, (layer, i) => (i === 1 ? Buffer.concat([Buffer.from(bytes), Buffer.alloc(100)]) : layer)),
      new RegExp(`layer 1 \\(entry "[^"]+"\\) is compressed with ${kind}; save it uncompressed`),
    );
  }
});

test('what gzip entries inflate to is bounded; a gzip file that is no layer is not judged', async (t) => {
  const config = attackerConfig('inflate-bound');
  const gz = archive(config, 'manifest.json', [SHARED]).map((e) => (layerNames.includes(e.name) ? { ...e, body: gzipSync(e.body!) } : e));
  const largest = Math.max(...layerNames.map((name) => body(name).length));
  await t.throwsAsync(inspectArchive(await writeTar(gz), undefined, { maxInflated: largest - 1 }), {
    instanceOf: ArchiveRefused,
    message: /gzip-compressed\) cannot be decompressed: it inflates past the \d+ bytes dopq inflates of one archive/,
  });
  t.is(
    (await inspectArchive(await writeTar(gz), undefined, { maxInflated: layerNames.reduce((sum, name) => sum + body(name).length, 0) })).id,
    config.id,
  );
  // A broken gzip, or a bomb, beside the image: never a layer, so never a reason to refuse.
  const junk = [
    { name: 'junk.gz', body: Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08]), Buffer.alloc(64, 9)]) },
    { name: 'bomb.gz', body: gzipSync(Buffer.alloc(8 * 1024 * 1024)) },
  ];
  t.is(
    (await inspectArchive(await writeTar(archive(config, 'manifest.json', [SHARED], junk)), undefined, { maxInflated: 1024 * 1024 })).id,
    config.id,
  );
});

test('pass 2 refuses layer bytes that differ from those pass 1 checked, before the entry completes', async (t) => {
  const config = attackerConfig('changed-bytes');
  const file = await writeTar(archive(config, 'manifest.json', [SHARED]));
  const image = await inspectArchive(file);
  const largest = layerNames.reduce((a, b) => (body(a).length >= body(b).length ? a : b));
  const marker = Buffer.from(`DOPQ-CHANGED-${process.pid}-`.padEnd(64, 'x'));
  // The same size, so only the hash tells: the last bytes are ours.
  const changed = (layer: Buffer) => Buffer.concat([layer.subarray(0, layer.length - marker.length), marker]);
  await writeFile(
    file,
    await packTar(archive(config, 'manifest.json', [SHARED]).map((e) => (e.name === largest ? { ...e, body: changed(e.body!) } : e))),
  );
  const out: Buffer[] = [];
  const stream = cleanArchive(file, image);
  const error = await t.throwsAsync(
    (async () => {
      for await (const chunk of stream) out.push(Buffer.from(chunk as Buffer));
    })(),
    { instanceOf: ArchiveRefused },
  );
  t.regex(error?.message ?? '', /changed since it was checked: its bytes are not the ones checked/);
  t.false(Buffer.concat(out).includes(marker), 'the changed layer never reached its end in what was written');
});
