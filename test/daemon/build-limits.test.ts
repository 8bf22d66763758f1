// Bounded builds (issue 12): one user's pile of builds cannot hold every build slot
// (limits.per_user.builds), and a build's output in the spool stops at builds.log_size.
// Real engine, real daemon, real users.
import { execSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { IMAGE, makeSpool, type TestSpool } from '../helpers/spool.js';
import { alice, bob, type UnixUser } from '../helpers/users.js';

const MB = 1024 ** 2;
const LINE = 'x'.repeat(99);
const MARKER = 'dopq: build output cut at 1 MB (builds.log_size); the build goes on\n';

/** Push a job built from `dockerfile` in a context folder owned by `user`. */
async function pushBuild(spool: TestSpool, user: UnixUser, name: string, dockerfile: string): Promise<number> {
  const root = path.join(spool.dir, name);
  await mkdir(root);
  await writeFile(path.join(root, 'Dockerfile'), dockerfile);
  await writeFile(path.join(root, 'job.yaml'), `name: ${name}\ngpus: 0\nbuild: {context: .}\n`);
  execSync(`chown -R ${user.uid}:${user.gid} ${root}`);
  const result = await spool.cli(['push', '--json', path.join(root, 'job.yaml')], { user });
  if (result.code !== 0) throw new Error(result.stderr);
  return (JSON.parse(result.stdout) as { id: number }).id;
}

test('limits.per_user.builds 1, builds.parallel 2: alice builds one at a time while bob builds beside her', async (t) => {
  const spool = await makeSpool(t, { gpus: [0], builds: { parallel: 2, deadline: '10m' }, limits: { per_user: { builds: 1 } } });
  const [a, b] = [alice(), bob()];
  // Builds that never end by themselves: each ends when the test cancels it, so the test sees
  // who builds at once without timing anything.
  const slow = (name: string) => `FROM ${IMAGE}\nRUN echo ${name} && sleep 600\n`;
  const alices = [
    await pushBuild(spool, a, 'a1', slow('a1')),
    await pushBuild(spool, a, 'a2', slow('a2')),
    await pushBuild(spool, a, 'a3', slow('a3')),
  ];
  const bobs = await pushBuild(spool, b, 'b1', slow('b1'));
  const daemon = spool.startDaemon();

  // Every snapshot on the way must keep the limits: at most 1 of alice's, at most 2 in all.
  const snapshots: { alice: number[]; all: number }[] = [];
  const building = async () => {
    const jobs = (await spool.q()).jobs.filter((job) => job.state === 'building');
    const snapshot = {
      alice: jobs.filter((job) => alices.includes(job.id)).map((job) => job.id),
      all: jobs.length,
      bob: jobs.some((job) => job.id === bobs),
    };
    snapshots.push(snapshot);
    return snapshot;
  };

  const first = await spool.waitFor(
    'bob and one of alice to build',
    async () => {
      const now = await building();
      return now.bob && now.alice.length === 1 ? now : undefined;
    },
    240_000,
  );
  t.is(first.all, 2, 'both slots in use');
  const queued = (await spool.q()).jobs.filter((job) => alices.includes(job.id) && job.state === 'queued');
  t.is(queued.length, 2, "alice's other two wait, queued");

  // Her slot frees when her build ends (cancelled here): her next one takes it, bob's goes on.
  const [cancelled] = first.alice;
  t.is((await spool.cli(['rm', String(cancelled)], { user: a })).code, 0);
  const second = await spool.waitFor(
    "alice's next build",
    async () => {
      const now = await building();
      return now.alice.length === 1 && now.alice[0] !== cancelled ? now : undefined;
    },
    240_000,
  );
  t.true(second.bob, "bob's build still runs beside hers");

  for (const snapshot of snapshots) {
    t.true(snapshot.alice.length <= 1, `alice had ${snapshot.alice.length} builds at once`);
    t.true(snapshot.all <= 2, `${snapshot.all} builds at once`);
  }
  const log = daemon.output();
  t.is(log.match(/building dopq-/g)?.length, 3, 'three builds began: a1 (or another of alice), b1, then her next');
  t.is((await spool.cli(['rm', ...alices.filter((id) => id !== cancelled).map(String)], { user: a })).code, 0);
  t.is((await spool.cli(['rm', String(bobs)], { user: b })).code, 0);
  await daemon.stop();
});

test('a build printing 5 MB under builds.log_size 1m: 1 MB and the marker kept, the job built and done', async (t) => {
  const spool = await makeSpool(t, { gpus: [0], builds: { log_size: '1m' } });
  const a = alice();
  const daemon = spool.startDaemon();
  const id = await pushBuild(spool, a, 'chatty', `FROM ${IMAGE}\nRUN yes ${LINE} | head -n 50000; echo build-finished\nCMD ["true"]\n`);
  const job = await spool.waitForJob(id, ['done', 'failed'], 240_000);
  t.is(job.state, 'done', job.message ?? '');

  const log = await readFile(path.join(spool.spoolDir, 'logs', `${id}.build.log`), 'latin1');
  t.log(`build log: ${log.length} bytes`);
  t.true(log.endsWith(MARKER), `ends with the marker: ${JSON.stringify(log.slice(-120))}`);
  t.is(log.split(MARKER).length, 2, 'one marker');
  const kept = log.slice(0, -MARKER.length);
  t.true(kept.length <= MB && kept.length > MB - 100, `${kept.length} bytes kept, whole lines up to 1 MB`);
  t.regex(kept, /^Step 1\/\d+ : FROM/, 'the build output from its start');
  t.regex(kept, /(x{99}\n)+$/, 'whole lines before the marker');
  t.notRegex(log, /^build-finished$/m, 'what came after the cut is not kept');
  t.true(daemon.output().includes('image built; the job may start'), 'the build went on to its end');
  await daemon.stop();
});
