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
  cleanArchive,
  inspectArchive,
  normaliseEntryName,
  recordEntry,
  resolveFile,
  untaggedArchive,
  type ArchiveIndex,
} from '../../src/io/image-archive.js';

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
      entries.push({ name: header.name, type: header.type as Entry['type'], linkname: header.linkname ?? undefined, body: Buffer.concat(chunks) });
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
  await docker.getImage(id).remove({ noprune: true }).catch(() => undefined);
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
  for (const raw of ['manifest.json', './manifest.json', '/manifest.json', '//manifest.json', 'x/../manifest.json', 'x/./../manifest.json', './x/../manifest.json/']) {
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
  const refused = (name: string, pattern: RegExp) => t.throws(() => resolveFile(archive, name, 'its Config'), { instanceOf: ArchiveRefused, message: pattern }, name);
  refused('loop1', /more than 8 links/);
  refused('out', /leads out of the archive/);
  refused('../blobs/real', /leads out of the archive/);
  refused('abs', /absolute path/);
  refused('dir', /folder, not a regular file/);
  refused('fifo', /special file, not a regular file/);
  refused('missing.json', /is not in the archive/);
  refused('blobs/real/x', /used as a folder/);
  refused('early', /not to a regular file before it/);
  t.throws(() => index([{ name: 'a', type: 'file' }, { name: './x/../a', type: 'file' }]), { instanceOf: ArchiveRefused, message: /already does/ });
});

// ---- the reproduction, against the real engine ----

test('x/../manifest.json claiming the shared tag: the engine honours it on a raw load (the hole)', async (t) => {
  // Proof that the attack is real on this engine, aimed at a private tag, never the shared one.
  const repo = `dopq-archive-decoy-${process.pid}`;
  const decoy = `${repo}:latest`;
  const config = attackerConfig('raw');
  t.teardown(async () => {
    await docker.getImage(decoy).remove({ noprune: true }).catch(() => undefined);
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
    { name: 'index.json', body: json({ schemaVersion: 2, manifests: [{ annotations: { 'io.containerd.image.name': 'docker.io/library/dopq-busybox:latest' } }] }) },
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
  const file = await writeTar(archive(config, './manifest.json', [SHARED], [{ name: 'repositories', body: json({}) }, { name: 'oci-layout', body: json({}) }]));
  const image = await inspectArchive(file);
  const cleaned = path.join(dir, 'cleaned.tar');
  await writeFile(cleaned, await drain(cleanArchive(file, image)));
  const entries = await readTar(cleaned);
  const hex = config.id.slice(7);
  t.deepEqual(entries.map((e) => e.name).sort(), [`${hex}.json`, '0/layer.tar', '1/layer.tar', '2/layer.tar', '3/layer.tar', 'manifest.json'].sort());
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
  t.is(await load(cleanArchive(file, image)), sharedId);
  t.is(await tagOf(SHARED), sharedId);
});

test('layers and config reached through symlinks and a hard link are resolved and load', async (t) => {
  const config = attackerConfig('links');
  t.teardown(() => removeImage(config.id));
  const [l0, l1, l2, l3] = layerBodies();
  const entries: Entry[] = [
    { name: 'blobs/sha256/c', body: config.bytes },
    { name: 'blobs/sha256/l0', body: l0!.body },
    { name: 'blobs/sha256/l1', body: l1!.body },
    { name: 'real/layer.tar', body: l2!.body },
    { name: 'blobs/sha256/l3', body: l3!.body },
    { name: 'config.json', type: 'symlink', linkname: 'blobs/sha256/c' },
    { name: 'one/layer.tar', type: 'symlink', linkname: '../blobs/sha256/l1' },
    { name: 'two', type: 'symlink', linkname: 'real' },
    { name: 'three/layer.tar', type: 'link', linkname: 'blobs/sha256/l3' },
    { name: 'manifest.json', body: json([{ Config: 'config.json', RepoTags: [SHARED], Layers: ['blobs/sha256/l0', 'one/layer.tar', 'two/layer.tar', 'three/layer.tar'] }]) },
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
  const shorter = archive(config, 'manifest.json', [SHARED]).map((e) => (e.name === layerNames[1] ? { ...e, body: e.body!.subarray(0, 512) } : e));
  await writeFile(file, await packTar(shorter));
  await t.throwsAsync(drain(cleanArchive(file, image)), { instanceOf: ArchiveRefused, message: /changed since it was checked/ });
});

// ---- refusals ----

test('a second manifest under another spelling is refused, whichever comes first', async (t) => {
  const config = attackerConfig('second');
  const evil = { name: 'x/../manifest.json', body: json([{ Config: config.name, RepoTags: [SHARED], Layers: layerNames }]) };
  await refusal(t, [...saved, { name: config.name, body: config.bytes }, evil], /entry "x\/\.\.\/manifest\.json" names "manifest\.json", as entry "manifest\.json" already does/);
  await refusal(t, [evil, ...saved], /entry "manifest\.json" names "manifest\.json", as entry "x\/\.\.\/manifest\.json" already does/);
  await refusal(t, [...saved, { name: 'manifest.json', body: evil.body }], /already does/);
  await refusal(t, [...saved, { name: './manifest.json', body: evil.body }], /already does/);
});

test('a manifest.json that is a link is refused', async (t) => {
  const config = attackerConfig('link');
  const others = saved.filter((e) => e.name !== 'manifest.json');
  const evil = { name: 'evil.json', body: json([{ Config: config.name, RepoTags: [SHARED], Layers: layerNames }]) };
  await refusal(t, [...others, { name: config.name, body: config.bytes }, evil, { name: 'manifest.json', type: 'symlink', linkname: 'evil.json' }], /entry "manifest\.json" is a symbolic link; manifest\.json must be a regular file/);
  await refusal(t, [...others, { name: config.name, body: config.bytes }, evil, { name: 'manifest.json', type: 'link', linkname: 'evil.json' }], /is a hard link; manifest\.json must be a regular file/);
  await refusal(t, [...others, { name: 'manifest.json', type: 'directory' }], /is a folder; manifest\.json must be a regular file/);
});

test('an entry name that climbs out of the archive is refused', async (t) => {
  await refusal(t, [...saved, { name: '../manifest.json', body: json([]) }], /entry "\.\.\/manifest\.json" climbs out of the archive/);
  await refusal(t, [...saved, { name: 'x/../../etc/cron.d/evil', body: json([]) }], /climbs out/);
});

test('Config and Layers paths must reach regular files inside the archive', async (t) => {
  const others = saved.filter((e) => e.name !== 'manifest.json');
  const manifest = (config: string, layers = layerNames) => ({ name: 'manifest.json', body: json([{ Config: config, RepoTags: null, Layers: layers }]) });
  await refusal(t, [...others, manifest('missing.json')], /entry "missing\.json" is not in the archive \(its Config in manifest\.json\)/);
  await refusal(t, [...others, manifest(path.dirname(layerNames[0]!))], /is a folder, not a regular file/);
  await refusal(t, [...others, { name: 'c.json', type: 'symlink', linkname: '../../etc/passwd' }, manifest('c.json')], /leads out of the archive/);
  await refusal(t, [...others, { name: 'c.json', type: 'symlink', linkname: '/etc/passwd' }, manifest('c.json')], /absolute path/);
  await refusal(t, [...others, { name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'a' }, manifest(configName, ['a', ...layerNames.slice(1)])], /more than 8 links \(its Layers\[0\]/);
  await refusal(t, [...others, { name: 'l', type: 'link', linkname: 'later' }, { name: 'later', body: Buffer.alloc(1) }, manifest(configName, ['l', ...layerNames.slice(1)])], /not to a regular file before it/);
  await refusal(t, [...others, { name: 'f', type: 'fifo' }, manifest(configName, ['f', ...layerNames.slice(1)])], /special file, not a regular file \(its Layers\[0\]/);
});

test('a manifest must describe exactly one image with a Config and Layers', async (t) => {
  const others = saved.filter((e) => e.name !== 'manifest.json');
  const one = { Config: configName, RepoTags: null, Layers: layerNames };
  const config = attackerConfig('two');
  await refusal(t, [...others, { name: config.name, body: config.bytes }, { name: 'manifest.json', body: json([one, { ...one, Config: config.name }]) }], /lists 2 images; a job runs one image/);
  await refusal(t, [...others, { name: 'manifest.json', body: json([]) }], /lists 0 images/);
  await refusal(t, [...others, { name: 'manifest.json', body: json(one) }], /not a JSON array/);
  await refusal(t, [...others, { name: 'manifest.json', body: Buffer.from('[{') }], /manifest\.json" is not JSON/);
  await refusal(t, [...others, { name: 'manifest.json', body: json([{ Layers: layerNames }]) }], /no Config path/);
  await refusal(t, [...others, { name: 'manifest.json', body: json([{ Config: configName, Layers: [1] }]) }], /no Layers list/);
  await refusal(t, [...others, { name: 'manifest.json', body: json([{ ...one, Layers: layerNames.slice(1) }]) }], /lists 3 layers, but its config has 4 rootfs\.diff_ids/);
});

test('a config that is not JSON, too big, or ambiguous to the engine is refused', async (t) => {
  const withConfig = (bytes: Buffer) => archive({ name: 'c.json', bytes }, 'manifest.json', [SHARED]);
  await refusal(t, withConfig(Buffer.from('{"rootfs":')), /entry "c\.json" \(the image config\) is not JSON/);
  await refusal(t, withConfig(json([1])), /is not a JSON object/);
  await refusal(t, withConfig(json({ rootfs: { diff_ids: ['nope'] } })), /not a list of sha256:<hex> digests/);
  const real = JSON.parse(body(configName).toString()) as Record<string, unknown>;
  // Go's decoder would read the second spelling; JSON.parse the first.
  await refusal(t, withConfig(Buffer.from(JSON.stringify(real).replace(/}$/, ',"RootFS":{"type":"layers","diff_ids":[]}}'))), /spells "rootfs" as "rootfs", "RootFS"/);
  await refusal(t, withConfig(Buffer.from(JSON.stringify(real).replace('"rootfs"', '"rootfſ"'))), /spells "rootfs" as "rootfſ"/);
  const big = Buffer.from(JSON.stringify({ ...real, padding: 'x'.repeat(16 * 1024 * 1024) }));
  await refusal(t, withConfig(big), /\(the image config\) is \d+ bytes; the limit is 16777216/);
});

test('what is not a docker save archive is refused, saying what it is', async (t) => {
  await refusal(t, [{ name: 'oci-layout', body: json({ imageLayoutVersion: '1.0.0' }) }, { name: 'index.json', body: json({ schemaVersion: 2, manifests: [] }) }, { name: 'blobs/sha256/ab', body: json({}) }], /is an OCI image layout without manifest\.json/);
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
