// Nothing crosses between users (issue 10): a second real user tries every spelling of the first
// user's job image (as image:, FROM, COPY --from, RUN --mount, ONBUILD, a DoPQ zip), label
// impersonation, and reading a failed build's command; the first user keeps their own images.
import { execFileSync, execSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { docker, IMAGE, makeSpool, type TestSpool } from '../helpers/spool.js';
import { alice, bob, type UnixUser } from '../helpers/users.js';
import type { JobView } from '../../src/core/queue-view.js';

let contexts = 0;

/** A build context owned by `user` with `dockerfile` (and a secret file); returns its manifest. */
async function buildContext(spool: TestSpool, user: UnixUser, dockerfile: string, extra = '', secret = ''): Promise<string> {
  const root = path.join(spool.dir, `ctx-${(contexts += 1)}-${user.name}`);
  await mkdir(root);
  await writeFile(path.join(root, 'Dockerfile'), dockerfile);
  await writeFile(path.join(root, 'secret.txt'), `${secret}\n`, { mode: 0o644 });
  const manifest = path.join(root, 'job.yaml');
  await writeFile(manifest, `name: ctx${contexts}\nbuild: {context: .}\ngpus: 0\n${extra}`);
  execSync(`chown -R ${user.uid}:${user.gid} ${root}`);
  return manifest;
}

async function pushFile(spool: TestSpool, manifest: string, user: UnixUser) {
  const result = await spool.cli(['push', '--json', manifest], { user });
  return { ...result, id: result.code === 0 ? (JSON.parse(result.stdout) as { id: number }).id : undefined };
}

async function pushImage(spool: TestSpool, user: UnixUser, image: string) {
  const file = path.join(spool.dir, `image-${(contexts += 1)}.yaml`);
  await writeFile(file, `image: ${image}\ncommand: [cat, /secret.txt]\ngpus: 0\n`);
  execSync(`chown ${user.uid}:${user.gid} ${file}`);
  return pushFile(spool, file, user);
}

/** Alice's finished build job with a secret in its image: her tag, image ID and short ID. */
async function alicesImage(spool: TestSpool, secret: string) {
  const a = alice();
  const pushed = await pushFile(spool, await buildContext(spool, a, `FROM ${IMAGE}\nCOPY secret.txt /secret.txt\nCMD ["cat", "/secret.txt"]\n`, '', secret), a);
  const job = await spool.waitForJob(pushed.id!, ['done', 'failed', 'rejected'], SETTLE);
  if (job.state !== 'done') throw new Error(`alice's build: ${job.state} ${job.message}`);
  const id = (await docker.getImage(job.image!).inspect()).Id;
  return { tag: job.image!, id, short: id.slice('sha256:'.length, 'sha256:'.length + 12), job };
}

const ended = ['done', 'failed', 'rejected', 'cancelled'];
/** An upper bound, not a measure: builds under a full parallel suite on 2 cores can take a minute. */
const SETTLE = 240_000;

test('every spelling of another user\'s job image is refused; the owner keeps using and building on it', async (t) => {
  const spool = await makeSpool(t, { gpus: [0, 1], builds: { parallel: 2 } });
  const [a, b] = [alice(), bob()];
  const secret = `ALICE-SECRET-${process.pid}-${Date.now()}`;
  const daemon = spool.startDaemon();
  const mine = await alicesImage(spool, secret);
  const repo = mine.tag.slice(0, mine.tag.lastIndexOf(':'));

  // Names in dopq's namespace are refused at push, with the file, field and exit 77.
  for (const spelling of [mine.tag, `docker.io/${mine.tag}`, `index.docker.io/${mine.tag}`, `${repo}@sha256:${'0'.repeat(64)}`]) {
    const pushed = await pushImage(spool, b, spelling);
    t.is(pushed.code, 77, `${spelling}: ${pushed.stderr}`);
    t.regex(pushed.stderr, /image: .*another user's job image/);
  }
  // IDs and short IDs look like any name: the daemon resolves them and refuses them.
  const refusedAtStart: number[] = [];
  for (const spelling of [mine.id, mine.short, mine.id.slice(7, 20)]) {
    const pushed = await pushImage(spool, b, spelling);
    t.is(pushed.code, 0, pushed.stderr);
    refusedAtStart.push(pushed.id!);
  }
  const inDockerfiles: [string, string][] = [
    ['FROM by name', `FROM docker.io/${mine.tag}\n`],
    ['FROM by short ID', `FROM ${mine.short}\nCMD ["cat", "/secret.txt"]\n`],
    ['FROM over a continuation', `FROM \\\n  ${mine.short}\n`],
    ['FROM through an ARG', `ARG BASE=${mine.short}\nFROM $BASE\n`],
    // With a backtick escape, a trailing backslash continues nothing: the FROM below is real.
    ['FROM hidden by the escape directive', `# escape=\`\nFROM ${IMAGE}\nRUN echo hidden \\\nFROM ${mine.short}\n`],
    ['FROM inside a heredoc', `FROM ${IMAGE}\nRUN <<EOF\nFROM ${mine.short}\nEOF\n`],
    ['COPY --from', `FROM ${IMAGE}\nCOPY --from=${mine.short} /secret.txt /stolen\n`],
    ['RUN --mount from', `FROM ${IMAGE}\nRUN --mount=type=bind,from=${mine.short},target=/x cat /x/secret.txt\n`],
    ['ONBUILD COPY --from', `FROM ${IMAGE}\nONBUILD COPY --from=${mine.short} /secret.txt /stolen\n`],
  ];
  const refusedBuilds: [string, number][] = [];
  for (const [what, dockerfile] of inDockerfiles) {
    const pushed = await pushFile(spool, await buildContext(spool, b, dockerfile, 'command: [cat, /secret.txt]\n'), b);
    if (pushed.code === 0) refusedBuilds.push([what, pushed.id!]);
    else t.is(pushed.code, 77, `${what}: refused at push as another user's image: ${pushed.stderr}`);
  }
  for (const id of refusedAtStart) {
    const job = await spool.waitForJob(id, ended, SETTLE);
    t.is(job.state, 'rejected', `${id}: ${job.message}`);
    t.is(job.reason, 'foreign-image');
    t.regex(job.message ?? '', /another user's job image/);
  }
  for (const [what, id] of refusedBuilds) {
    const job = await spool.waitForJob(id, ended, SETTLE);
    t.is(job.state, 'rejected', `${what}: ${job.message}`);
    t.is(job.reason, 'foreign-image', `${what}: ${job.message}`);
  }

  // alice still runs and builds on her own image.
  const again = await pushImage(spool, a, mine.tag);
  t.is(again.code, 0, again.stderr);
  t.is((await spool.waitForJob(again.id!, ended, SETTLE)).state, 'done');
  t.regex((await spool.cli(['log', String(again.id)], { user: a })).stdout, new RegExp(secret));
  const onTop = await pushFile(spool, await buildContext(spool, a, `FROM ${mine.tag}\nRUN cat /secret.txt\n`, 'command: [cat, /secret.txt]\n'), a);
  t.is((await spool.waitForJob(onTop.id!, ended, SETTLE)).state, 'done');

  // The secret is in none of bob's logs or messages, and no container of his runs alice's image.
  const q = await spool.q(b);
  for (const job of q.jobs.filter((j: JobView) => j.user === b.name)) {
    t.notRegex(job.message ?? '', new RegExp(secret));
    const log = await spool.cli(['log', String(job.id)], { user: b });
    t.notRegex(log.stdout, new RegExp(secret), `job ${job.id}'s log`);
  }
  const containers = await docker.listContainers({ all: true, filters: { label: spool.labels(`dopq.uid=${b.uid}`) } });
  for (const c of containers) {
    const image = await docker.getImage((await docker.getContainer(c.Id).inspect()).Image).inspect();
    t.not(image.Id, mine.id);
    const alicesLayers = (await docker.getImage(mine.id).inspect()).RootFS.Layers ?? [];
    t.false(alicesLayers.every((layer, i) => image.RootFS.Layers?.[i] === layer), 'not built on hers');
  }
  t.is(daemon.child.exitCode, null);
  await daemon.stop();
});

test("a DoPQ zip building on another user's image is refused", async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const b = bob();
  const daemon = spool.startDaemon();
  const mine = await alicesImage(spool, `zip-secret-${process.pid}`);
  const zip = path.join(spool.dir, 'steal.zip');
  const script = `
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1], 'w') as z:
    z.writestr('Dockerfile', 'FROM ${mine.short}\\n')
    z.writestr('container_config.json', json.dumps({'name': 'steal', 'executor_name': sys.argv[2], 'num_gpus': 0, 'build_flag': True}))
`;
  execFileSync('python3', ['-c', script, zip, b.name]);
  execSync(`chown ${b.uid}:${b.gid} ${zip}`);
  const pushed = await pushFile(spool, zip, b);
  t.is(pushed.code, 0, pushed.stderr);
  const job = await spool.waitForJob(pushed.id!, ended, SETTLE);
  t.is(job.state, 'rejected', job.message ?? '');
  t.is(job.reason, 'foreign-image');
  await daemon.stop();
});

test("a build's labels cannot make it another user's job: reconcile goes by dopq's own container names", async (t) => {
  // Reconcile rarely enough that alice's job starts between two passes while bob's step runs.
  const spool = await makeSpool(t, { gpus: [0], reconcile_interval: '4s' });
  const [a, b] = [alice(), bob()];
  const gate = spool.gate('alice');
  const daemon = spool.startDaemon();
  const instance = spool.labels()[0]!.split('=')[1]!;
  // bob's build (job 1) labels its step containers as job 2, which alice is about to push; the
  // step outlives the start of alice's job, so a label-trusting reconcile sees two "job 2"s.
  const forged = await pushFile(spool, await buildContext(spool, b, `FROM ${IMAGE}\nLABEL dopq.instance=${instance} dopq.job=2 dopq.user=${a.name} dopq.uid=${a.uid}\nRUN sleep 10\n`), b);
  t.is(forged.id, 1, forged.stderr);
  await spool.waitForJob(1, ['building'], SETTLE);
  const running = await spool.push({ name: 'long', command: `${gate.wait}; echo alice-finished`, mounts: gate.mounts, gpus: 1 }, a);
  t.is(running, 2);
  await spool.waitForJob(running, ['running'], SETTLE);
  const built = await spool.waitForJob(1, ['queued', 'running', 'done', 'failed', 'rejected'], SETTLE);
  t.not(built.reason, 'build-failed', "bob's build step was not removed as some job's leftover");
  await new Promise((resolve) => setTimeout(resolve, 9000)); // two reconcile passes after the step ended
  const alices = await spool.job(running);
  t.is(alices?.state, 'running', "alice's job was not taken for bob's build step");
  const containers = await docker.listContainers({ filters: { name: [`dopq-${instance}-${running}`] } });
  t.is(containers.length, 1, "alice's container was not removed as a leftover");
  await gate.open();
  const done = await spool.waitForJob(running, ended, SETTLE);
  t.is(done.state, 'done', done.message ?? '');
  t.regex((await spool.cli(['log', String(running)], { user: a })).stdout, /alice-finished/);
  await daemon.stop();
});

test("a failed build's command and Docker's error reach only its owner's log, never q", async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const [a, b] = [alice(), bob()];
  const token = `tok-${process.pid}-${Date.now()}`;
  const daemon = spool.startDaemon();
  const pushed = await pushFile(spool, await buildContext(spool, a, `FROM ${IMAGE}\nRUN echo "Authorization: Bearer ${token}" > /dev/null && exit 3\n`), a);
  const job = await spool.waitForJob(pushed.id!, ended, SETTLE);
  t.is(job.state, 'failed');
  t.is(job.reason, 'build-failed');
  const seenByBob = await spool.cli(['q', '--json', '--all'], { user: b });
  t.false(seenByBob.stdout.includes(token), 'bob sees no part of the command');
  t.false((await spool.cli(['q', '--all'], { user: b })).stdout.includes(token));
  t.regex((await spool.cli(['log', String(pushed.id)], { user: a })).stdout, new RegExp(`${token}[\\s\\S]*non-zero code: 3`));
  await daemon.stop();
});

test("builds reuse only their owner's cached steps: the same Dockerfile gives another user a fresh step", async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const [a, b] = [alice(), bob()];
  const daemon = spool.startDaemon();
  const dockerfile = `FROM ${IMAGE}\nRUN head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n' > /key\nCMD ["cat", "/key"]\n`;
  const keyOf = async (user: UnixUser) => {
    const pushed = await pushFile(spool, await buildContext(spool, user, dockerfile), user);
    const job = await spool.waitForJob(pushed.id!, ended, SETTLE);
    t.is(job.state, 'done', job.message ?? '');
    return /([0-9a-f]{32})\s*$/.exec((await spool.cli(['log', String(pushed.id)], { user })).stdout)?.[1];
  };
  const alices = await keyOf(a);
  const alicesAgain = await keyOf(a);
  const bobs = await keyOf(b);
  t.truthy(alices);
  t.is(alicesAgain, alices, "alice's second build reuses her own cached step");
  t.not(bobs, alices, "bob's build did not get alice's step");
  await daemon.stop();
});

/** A copy of `docker save IMAGE` with its config changed and its manifest entry named and tagged as told. */
function craftArchive(out: string, options: { manifestName: string; repoTags: string[]; env?: string; labels?: Record<string, string>; onBuild?: string[] }): void {
  const script = `
import hashlib, io, json, subprocess, sys, tarfile
out, opts = sys.argv[1], json.loads(sys.argv[2])
saved = subprocess.run(['docker', 'save', opts['image']], check=True, capture_output=True).stdout
src = tarfile.open(fileobj=io.BytesIO(saved))
manifest = json.load(src.extractfile('manifest.json'))
config = json.load(src.extractfile(manifest[0]['Config']))
inner = config.setdefault('config', {})
if opts.get('env'): inner['Env'] = (inner.get('Env') or []) + [opts['env']]
if opts.get('labels'): inner['Labels'] = opts['labels']
if opts.get('onBuild'): inner['OnBuild'] = opts['onBuild']
body = json.dumps(config).encode()
name = hashlib.sha256(body).hexdigest() + '.json'
dst = tarfile.open(out, 'w')
def add(path, data):
    info = tarfile.TarInfo(path); info.size = len(data); dst.addfile(info, io.BytesIO(data))
for member in src.getmembers():
    if member.name in ('manifest.json', 'repositories', manifest[0]['Config']): continue
    dst.addfile(member, src.extractfile(member) if member.isfile() else None)
add(name, body)
add(opts['manifestName'], json.dumps([{'Config': name, 'RepoTags': opts['repoTags'], 'Layers': manifest[0]['Layers']}]).encode())
dst.close()
`;
  execFileSync('python3', ['-c', script, out, JSON.stringify({ image: IMAGE, ...options })]);
}

async function pushArchive(spool: TestSpool, user: UnixUser, archive: (file: string) => void, extra = '') {
  const root = path.join(spool.dir, `archive-${(contexts += 1)}`);
  await mkdir(root);
  archive(path.join(root, 'image.tar'));
  await writeFile(path.join(root, 'job.yaml'), `image_archive: image.tar\ngpus: 0\n${extra}`);
  execSync(`chown -R ${user.uid}:${user.gid} ${root}`);
  return pushFile(spool, path.join(root, 'job.yaml'), user);
}

test("an archive cannot retag a shared image or claim a user's job image, whatever its entry names and labels say", async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const [a, b] = [alice(), bob()];
  // A private stand-in for a shared image, so a regression cannot disturb other tests.
  const shared = `dopq-shared-${process.pid}:latest`;
  execSync(`docker tag ${IMAGE} ${shared}`);
  t.teardown(() => execSync(`docker rmi ${shared} >/dev/null 2>&1 || true`));
  const sharedId = (await docker.getImage(shared).inspect()).Id;
  const daemon = spool.startDaemon();
  const mine = await alicesImage(spool, `archive-secret-${process.pid}`);
  const instance = spool.labels()[0]!.split('=')[1]!;
  const forged = await pushArchive(
    spool,
    b,
    (file) =>
      craftArchive(file, {
        manifestName: 'x/../manifest.json',
        repoTags: [shared, mine.tag],
        env: 'PLANTED_BY=bob',
        labels: { 'dopq.image.instance': instance, 'dopq.image.uid': String(a.uid), 'dopq.image.job': String(mine.job.id), 'dopq.instance': instance, 'dopq.job': String(mine.job.id) },
      }),
    'command: [sh, -c, "echo loaded-by-bob"]\n',
  );
  t.is(forged.code, 0, forged.stderr);
  const loaded = await spool.waitForJob(forged.id!, ended, SETTLE);
  t.is(loaded.state, 'done', loaded.message ?? '');
  t.is((await docker.getImage(shared).inspect()).Id, sharedId, 'the shared tag did not move');
  t.is((await docker.getImage(mine.tag).inspect()).Id, mine.id, "alice's job tag did not move");
  const bobs = await docker.getImage(loaded.image!).inspect();
  t.deepEqual(bobs.RepoTags, [loaded.image], 'the archive left no tag of its own');
  // alice's jobs that use the shared name and her own image run what they named.
  const onShared = await spool.push({ image: shared, command: 'env', gpus: 0 }, a);
  t.is((await spool.waitForJob(onShared, ended, SETTLE)).state, 'done');
  t.notRegex((await spool.cli(['log', String(onShared)], { user: a })).stdout, /PLANTED_BY/);
  // bob's archive claims alice's labels: it is still bob's, so alice may not use it by ID.
  const byId = await pushImage(spool, a, bobs.Id);
  t.is((await spool.waitForJob(byId.id!, ended, SETTLE)).reason, 'foreign-image');
  await daemon.stop();
});

test("a base image's ONBUILD trigger that copies from another user's image is refused", async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const b = bob();
  const daemon = spool.startDaemon();
  const mine = await alicesImage(spool, `onbuild-secret-${process.pid}`);
  const archived = await pushArchive(spool, b, (file) => craftArchive(file, { manifestName: 'manifest.json', repoTags: [], onBuild: [`COPY --from=${mine.short} /secret.txt /stolen`] }), 'command: ["true"]\n');
  t.is(archived.code, 0, archived.stderr);
  const base = await spool.waitForJob(archived.id!, ended, SETTLE);
  t.is(base.state, 'done', base.message ?? '');
  const onTop = await pushFile(spool, await buildContext(spool, b, `FROM ${base.image}\nCMD ["cat", "/stolen"]\n`), b);
  t.is(onTop.code, 0, onTop.stderr);
  const job = await spool.waitForJob(onTop.id!, ended, SETTLE);
  t.is(job.state, 'rejected', job.message ?? '');
  t.is(job.reason, 'foreign-image');
  t.regex(job.message ?? '', /ONBUILD trigger/);
  await daemon.stop();
});

test("a context tar written by hand cannot show dopq one Dockerfile and the engine another", async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const b = bob();
  const daemon = spool.startDaemon();
  const mine = await alicesImage(spool, `context-secret-${process.pid}`);
  const intake = path.join(spool.spoolDir, 'intake');
  const benign = `FROM ${IMAGE}\\nRUN true\\n`;
  const evil = `FROM ${IMAGE}\\nCOPY --from=${mine.tag} /secret.txt /stolen.txt\\n`;
  // Python's tarfile writes what we say: a symlink named Dockerfile after the checked one, or a
  // second Dockerfile under a name the engine cleans to the same path.
  const variants: [string, string][] = [
    ['a symlink named Dockerfile', `add('Dockerfile', b'${benign}'); add('evil', b'${evil}'); link('Dockerfile', 'evil')`],
    ['x/../Dockerfile', `add('Dockerfile', b'${benign}'); add('x/../Dockerfile', b'${evil}')`],
    ['.//Dockerfile', `add('Dockerfile', b'${benign}'); add('.//Dockerfile', b'${evil}')`],
  ];
  const ids: [string, number][] = [];
  for (const [index, [what, entries]] of variants.entries()) {
    const id = 30 + index;
    const script = `
import hashlib, io, json, sys, tarfile, time
buf = io.BytesIO(); t = tarfile.open(fileobj=buf, mode='w')
def add(name, data):
    info = tarfile.TarInfo(name); info.size = len(data); t.addfile(info, io.BytesIO(data))
def link(name, target):
    info = tarfile.TarInfo(name); info.type = tarfile.SYMTYPE; info.linkname = target; t.addfile(info)
${entries}
t.close(); data = buf.getvalue()
open('${id}.ctx', 'wb').write(data)
manifest = 'name: forged\\nbuild: {context: ., dockerfile: Dockerfile}\\ngpus: 0\\ncommand: [cat, /stolen.txt]\\n'
env = {'id': ${id}, 'submitted_at': int(time.time() * 1000), 'source': 'forged.yaml', 'manifest': manifest, 'context': {'file': '${id}.ctx', 'bytes': len(data), 'sha256': hashlib.sha256(data).hexdigest()}}
open('.${id}', 'w').write(json.dumps(env))
`;
    execFileSync('runuser', ['-u', b.name, '--', 'sh', '-c', `cd ${intake} && umask 077 && python3 -c "$0" && mv .${id} ${id}.job`, script]);
    ids.push([what, id]);
  }
  for (const [what, id] of ids) {
    const job = await spool.waitForJob(id, ended, SETTLE);
    t.not(job.state, 'done', `${what}: ${job.message}`);
    t.regex(job.message ?? '', /build context's entry/, what);
    t.notRegex((await spool.cli(['log', String(id)], { user: b })).stdout, /context-secret/, what);
  }
  await daemon.stop();
});
