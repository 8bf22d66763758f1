// Jobs from a Dockerfile (issue 5): built ahead on the real engine from the local busybox image,
// offline, never holding a GPU; failures end the job with the build's error in its log.
import { execSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { docker, IMAGE, makeSpool, type TestSpool } from '../helpers/spool.js';
import { alice, bob, type UnixUser } from '../helpers/users.js';

/** A context folder owned by `user` with this Dockerfile and a run.sh; returns the manifest. */
async function buildJob(spool: TestSpool, user: UnixUser, name: string, dockerfile: string, extra = ''): Promise<string> {
  const root = path.join(spool.dir, name);
  await mkdir(root);
  await writeFile(path.join(root, 'Dockerfile'), dockerfile);
  await writeFile(path.join(root, 'run.sh'), `echo ${name}-ran\n`);
  const manifest = path.join(root, 'job.yaml');
  await writeFile(manifest, `name: ${name}\nbuild: {context: .}\n${extra}`);
  execSync(`chown -R ${user.uid}:${user.gid} ${root}`);
  return manifest;
}

async function push(spool: TestSpool, manifest: string, user: UnixUser): Promise<number> {
  const result = await spool.cli(['push', '--json', manifest], { user });
  if (result.code !== 0) throw new Error(result.stderr);
  return (JSON.parse(result.stdout) as { id: number }).id;
}

test('a good build runs; its log holds the build output, then the job output', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const a = alice();
  const daemon = spool.startDaemon();
  const manifest = await buildJob(spool, a, 'good', `FROM ${IMAGE}\nCOPY run.sh /run.sh\nCMD ["sh", "/run.sh"]\n`, 'gpus: 1\n');
  const id = await push(spool, manifest, a);
  const following = spool.cli(['log', '-f', String(id)], { user: a }); // started before the build
  const job = await spool.waitForJob(id, ['done', 'failed']);
  t.is(job.state, 'done', job.message ?? '');
  const followed = await following;
  t.is(followed.code, 0, followed.stderr);
  t.regex(followed.stdout, /Step 1\/\d+ : FROM[\s\S]*Successfully tagged[\s\S]*good-ran/, 'log -f follows the build, then the run');
  t.regex(job.image ?? '', new RegExp(`^dopq-[a-z0-9]+/u${a.uid}:job-${id}$`));
  const log = await spool.cli(['log', String(id)], { user: a });
  t.regex(log.stdout, /Step 1\/\d+ : FROM[\s\S]*Successfully tagged[\s\S]*good-ran/);
  const image = await docker.getImage(job.image!).inspect();
  t.deepEqual(image.RepoTags, [job.image], 'the image has its dopq name and no other');
  await daemon.stop();
});

test('a broken Dockerfile fails the job with the build error, in q and in the log', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const a = alice();
  const daemon = spool.startDaemon();
  const id = await push(spool, await buildJob(spool, a, 'broken', `FROM ${IMAGE}\nRUN echo compiling; exit 3\n`), a);
  const job = await spool.waitForJob(id, ['done', 'failed']);
  t.is(job.state, 'failed');
  t.is(job.reason, 'build-failed');
  // Docker's words quote the command: everyone sees that it failed, only its owner sees why.
  t.is(job.message, `the build failed; its output is in dopq log ${id}`);
  const log = await spool.cli(['log', String(id)], { user: a });
  t.regex(log.stdout, /compiling[\s\S]*returned a non-zero code: 3/);
  t.is((await spool.cli(['log', String(id)], { user: bob() })).code, 77, 'another user cannot read the build log');
  await daemon.stop();
});

test('a slow build holds no GPU and delays no ready job; rm cancels it', async (t) => {
  const spool = await makeSpool(t, { gpus: [0], builds: { parallel: 2, deadline: '10m' } });
  const [a, b] = [alice(), bob()];
  const daemon = spool.startDaemon();
  const slow = await push(spool, await buildJob(spool, a, 'slow', `FROM ${IMAGE}\nRUN sleep 600\n`, 'gpus: 1\n'), a);
  await spool.waitForJob(slow, ['building']);
  const ready = await spool.push({ name: 'ready', command: 'echo ready', gpus: 1 }, b);
  const done = await spool.waitForJob(ready, ['done']);
  t.truthy(done.gpus.length, 'the ready job took the only GPU');
  const building = (await spool.q(a)).jobs.find((j) => j.id === slow)!;
  t.is(building.state, 'building', 'still building while the ready job ran and ended');
  t.is(building.waiting_for, 'building');
  t.deepEqual(building.gpus, []);
  t.is((await spool.cli(['rm', String(slow)], { user: a })).code, 0);
  t.is((await spool.waitForJob(slow, ['cancelled', 'failed'])).state, 'cancelled');
  await daemon.stop();
});

test('a build past builds.deadline fails the job, saying so', async (t) => {
  const spool = await makeSpool(t, { gpus: [0], builds: { deadline: '2s' } });
  const a = alice();
  const daemon = spool.startDaemon();
  const slow = await push(spool, await buildJob(spool, a, 'too-slow', `FROM ${IMAGE}\nRUN sleep 600\n`), a);
  const failed = await spool.waitForJob(slow, ['failed', 'done']);
  t.is(failed.reason, 'build-failed');
  t.regex(failed.message ?? '', /took longer than builds.deadline \(2s\)/);
  t.regex((await spool.cli(['log', String(slow)], { user: a })).stdout, /dopq: the build failed: the build took longer/);
  await daemon.stop();
});

test('builds.keep_images: the images of finished jobs beyond the newest per user are removed', async (t) => {
  // A kept container still uses its image: keep them only long enough to inspect them.
  const spool = await makeSpool(t, {
    gpus: [0],
    reconcile_interval: '1s',
    keep_containers: '3s',
    builds: { keep_images: { per_user: 1 } },
  });
  const a = alice();
  const daemon = spool.startDaemon();
  const first = await push(spool, await buildJob(spool, a, 'first', `FROM ${IMAGE}\nCOPY run.sh /run.sh\nCMD ["sh", "/run.sh"]\n`), a);
  const one = await spool.waitForJob(first, ['done']);
  await spool.inspectContainers();
  const second = await push(spool, await buildJob(spool, a, 'second', `FROM ${IMAGE}\nCOPY run.sh /run.sh\nCMD ["sh", "/run.sh"]\n`), a);
  const two = await spool.waitForJob(second, ['done']);
  await spool.inspectContainers();
  const tags = async () => (await docker.listImages({ filters: { reference: [`dopq-*/u${a.uid}:*`] } })).flatMap((i) => i.RepoTags ?? []);
  await spool.waitFor('the older image to go', async () => !(await tags()).includes(one.image!));
  t.true((await tags()).includes(two.image!), 'the newest stays');
  await daemon.stop();
});

test("an image archive is loaded without its own tags (it cannot replace another image's name) and runs", async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const a = alice();
  // An image tagged as something else on this server: the archive claims that name.
  const decoy = `dopq-decoy-${process.pid}:latest`;
  // Its own content, so no earlier run's cached step (left on the engine) is the same image.
  execSync(
    `printf 'FROM ${IMAGE}\\nRUN echo poisoned ${process.pid}-${Date.now()} > /poisoned\\n' | docker build -q -t ${decoy} - >/dev/null`,
  );
  const root = path.join(spool.dir, 'archive');
  await mkdir(root);
  // The archive's image leaves the engine; the decoy name then names a shared image.
  execSync(`docker save -o ${root}/image.tar ${decoy} && docker rmi ${decoy} >/dev/null && docker tag ${IMAGE} ${decoy}`);
  t.teardown(() => execSync(`docker rmi -f ${decoy} >/dev/null 2>&1 || true`));
  const before = (await docker.getImage(decoy).inspect()).Id;
  await writeFile(path.join(root, 'job.yaml'), 'name: archived\nimage_archive: image.tar\ncommand: [cat, /poisoned]\ngpus: 0\n');
  execSync(`chown -R ${a.uid}:${a.gid} ${root}`);
  const daemon = spool.startDaemon();
  const id = await push(spool, path.join(root, 'job.yaml'), a);
  const job = await spool.waitForJob(id, ['done', 'failed']);
  t.is(job.state, 'done', job.message ?? '');
  t.regex((await spool.cli(['log', String(id)], { user: a })).stdout, /Loaded image ID[\s\S]*poisoned/);
  t.is((await docker.getImage(decoy).inspect()).Id, before, "the archive's own tag did not move");
  await daemon.stop();
});

test('the disk guard: push and builds refuse when the spool disk is short, and nothing queued is lost', async (t) => {
  const spool = await makeSpool(t, { gpus: [0], builds: { min_free: '1000t' } });
  const a = alice();
  const queued = await spool.push({ name: 'plain', command: 'true' }, a);
  const manifest = await buildJob(spool, a, 'no-room', `FROM ${IMAGE}\n`);
  const refused = await spool.cli(['push', manifest], { user: a });
  t.is(refused.code, 73);
  t.regex(refused.stderr, /free on the spool's disk; builds\.min_free is 1000t/);
  t.regex(refused.stderr, /hint: nothing was queued/);
  const daemon = spool.startDaemon();
  t.is((await spool.waitForJob(queued, ['done'])).state, 'done', 'the job already queued runs');
  await daemon.stop();
});
