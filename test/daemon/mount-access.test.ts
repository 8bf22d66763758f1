// Mount sources are checked as the job's owner: dockerd binds as root, so without the check a
// user could mount (and read) what they could never open themselves.
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { stringify } from 'yaml';
import { checkAccessAs } from '../../src/io/host/user-access.js';
import { IMAGE, makeSpool, type TestSpool } from '../helpers/spool.js';
import { alice, bob, ensureGroup, shellAs, type UnixUser } from '../helpers/users.js';

const SECRET = 'alice-secret-7d41';

/** R/alice-private (0700, alice's) holding sub/ (0755) with secret.txt (0644). */
async function alicePrivate(root: string, a: UnixUser): Promise<string> {
  const priv = path.join(root, 'alice-private');
  const sub = path.join(priv, 'sub');
  await mkdir(sub, { recursive: true });
  await writeFile(path.join(sub, 'secret.txt'), `${SECRET}\n`, { mode: 0o644 });
  for (const p of [priv, sub, path.join(sub, 'secret.txt')]) await chown(p, a.uid, a.gid);
  await chmod(priv, 0o700);
  await chmod(sub, 0o755);
  return sub;
}

/** Push as `user` without the helper's throw on failure: the exit code and stderr are the point. */
async function tryPush(spool: TestSpool, user: UnixUser, manifest: Record<string, unknown>, name: string) {
  const file = path.join(spool.dir, `${name}.yaml`);
  await writeFile(file, stringify({ image: IMAGE, ...manifest }), { mode: 0o644 });
  return { file, ...(await spool.cli(['push', file], { user })) };
}

/** A job file `user` drops straight into the intake, past push and its check (as a forger would). */
async function drop(spool: TestSpool, user: UnixUser, id: number, manifest: Record<string, unknown>): Promise<void> {
  const staged = path.join(spool.dir, `drop-${id}.json`);
  await writeFile(
    staged,
    JSON.stringify({ id, submitted_at: Date.now(), source: '/x/forged.yaml', manifest: stringify({ image: IMAGE, ...manifest }) }),
    { mode: 0o644 },
  );
  const intake = path.join(spool.spoolDir, 'intake');
  const done = await shellAs(user, `cp ${staged} ${intake}/.drop-${id} && mv ${intake}/.drop-${id} ${intake}/${id}.job`);
  if (done.code !== 0) throw new Error(`drop failed: ${done.stderr}`);
}

/** Depends on lifecycle.ts ending a MountDenied start as rejected / mount-denied. */
async function expectMountDenied(t: import('ava').ExecutionContext, spool: TestSpool, id: number, message: RegExp): Promise<void> {
  const job = await spool.waitForJob(id, ['rejected', 'failed', 'done']);
  t.is(job.state, 'rejected', `${id}: ${job.state}/${job.reason}: ${job.message}`);
  t.is(job.reason, 'mount-denied');
  t.regex(job.message ?? '', message);
  t.notRegex(job.message ?? '', new RegExp(SECRET));
}

test('the helper answers as the user with their supplementary groups, and never runs a path as code', async (t) => {
  const [a, b] = [alice(), bob()];
  const dataGid = ensureGroup('dopq-data', [a]);
  const dir = await mkdtemp(path.join(tmpdir(), 'dopq-access-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await chmod(dir, 0o755);
  const sub = await alicePrivate(dir, a);
  const team = path.join(dir, 'team');
  await mkdir(team);
  await chown(team, 0, dataGid);
  await chmod(team, 0o750);
  const odd = path.join(dir, 'a b;$(touch pwned)\n`id`');
  await mkdir(odd, { mode: 0o755 });
  await writeFile(path.join(dir, 'noread'), '', { mode: 0o600 });
  await mkdir(path.join(dir, 'noenter'), { mode: 0o644 });
  const bobId = { user: b.name, uid: b.uid, gid: b.gid, groups: [b.gid] };
  const checks = [
    { path: sub, write: false },
    { path: path.join(sub, 'secret.txt'), write: false },
    { path: odd, write: false },
    { path: path.join(dir, 'noread'), write: false },
    { path: path.join(dir, 'noenter'), write: false },
    { path: odd, write: true },
    { path: path.join(dir, 'missing', 'x'), write: false },
  ];
  t.deepEqual(await checkAccessAs(bobId, checks), [
    { kind: 'search', folder: path.dirname(sub) },
    { kind: 'search', folder: path.dirname(sub) },
    undefined,
    { kind: 'read' },
    { kind: 'enter' },
    { kind: 'write' },
    { kind: 'missing', at: path.join(dir, 'missing') },
  ]);
  t.deepEqual(
    await checkAccessAs({ user: a.name, uid: a.uid, gid: a.gid, groups: [a.gid] }, [{ path: path.join(sub, 'secret.txt'), write: false }]),
    [undefined],
  );
  // Only through a supplementary group: kept by setpriv, where spawn({uid, gid}) would drop it.
  const aliceWith = (groups: number[]) => ({ user: a.name, uid: a.uid, gid: a.gid, groups });
  t.deepEqual(await checkAccessAs(aliceWith([a.gid, dataGid]), [{ path: team, write: false }]), [undefined]);
  t.deepEqual(await checkAccessAs(aliceWith([]), [{ path: team, write: false }]), [{ kind: 'read' }]);

  // One helper process, three paths: what a job start pays.
  const three = checks.slice(2, 5);
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const start = process.hrtime.bigint();
    await checkAccessAs(bobId, three);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((x, y) => x - y);
  t.log(
    `one check of 3 paths: median ${((times[9]! + times[10]!) / 2).toFixed(1)} ms (min ${times[0]!.toFixed(1)}, max ${times[19]!.toFixed(1)})`,
  );
});

test("alice's private folder: bob is refused at push and, dropped past push, at start; alice's own job reads it", async (t) => {
  const [a, b] = [alice(), bob()];
  const spool = await makeSpool(t, { gpus: [0] });
  const sub = await alicePrivate(spool.dir, a);
  const job = { command: ['cat', '/x/secret.txt'], mounts: [`${sub}:/x:ro`] };

  const pushed = await tryPush(spool, b, job, 'bob-steal');
  t.is(pushed.code, 77, pushed.stderr);
  t.is(
    pushed.stderr.split('\n')[0],
    `dopq: ${pushed.file}: mounts[0]: mount source ${sub}: dopq-bob cannot pass through ${path.dirname(sub)} (no search permission)`,
  );

  await drop(spool, b, 40, job);
  const daemon = spool.startDaemon();
  await expectMountDenied(
    t,
    spool,
    40,
    new RegExp(`mount source ${sub}: dopq-bob cannot pass through ${path.dirname(sub)} \\(no search permission\\)`),
  );

  const own = await spool.push(job, a);
  t.is((await spool.waitForJob(own, ['done', 'failed', 'rejected'])).state, 'done');
  t.regex((await spool.cli(['log', String(own)], { user: a })).stdout, new RegExp(SECRET));
  await daemon.stop();
});

test("a link bob owns inside an allowed root, leading into alice's private folder, is refused for bob", async (t) => {
  const [a, b] = [alice(), bob()];
  const spool = await makeSpool(t, { gpus: [0] });
  const sub = await alicePrivate(spool.dir, a);
  const link = path.join(spool.shared, 'bob-link');
  t.is((await shellAs(b, `ln -s ${sub} ${link}`)).code, 0);
  const job = { command: ['cat', '/x/secret.txt'], mounts: [`${link}:/x:ro`] };

  const pushed = await tryPush(spool, b, job, 'bob-link');
  t.is(pushed.code, 77, pushed.stderr);
  t.regex(pushed.stderr, new RegExp(`mounts\\[0\\]: mount source ${link}: dopq-bob cannot pass through ${path.dirname(sub)}`));

  await drop(spool, b, 41, job);
  const daemon = spool.startDaemon();
  await expectMountDenied(
    t,
    spool,
    41,
    new RegExp(`mount source ${link} \\(resolves to ${sub}\\): dopq-bob cannot pass through ${path.dirname(sub)}`),
  );
  await daemon.stop();
});

test('a read-write mount of a folder bob may only read is refused; the same mount :ro runs', async (t) => {
  const b = bob();
  const spool = await makeSpool(t, { gpus: [0] });
  const data = path.join(spool.dir, 'data');
  await mkdir(data, { mode: 0o755 });
  await writeFile(path.join(data, 'readme.txt'), 'shared-data-ok\n', { mode: 0o644 });
  const rw = { command: ['cat', '/data/readme.txt'], mounts: [`${data}:/data`] };

  const pushed = await tryPush(spool, b, rw, 'bob-rw');
  t.is(pushed.code, 77, pushed.stderr);
  t.regex(pushed.stderr, new RegExp(`mounts\\[0\\]: mount source ${data}: dopq-bob cannot write it \\(read-write mount; add :ro\\?\\)`));

  await drop(spool, b, 42, rw);
  const daemon = spool.startDaemon();
  await expectMountDenied(t, spool, 42, new RegExp(`mount source ${data}: dopq-bob cannot write it \\(read-write mount; add :ro\\?\\)`));

  const ro = await spool.push({ ...rw, mounts: [`${data}:/data:ro`] }, b);
  t.is((await spool.waitForJob(ro, ['done', 'failed', 'rejected'])).state, 'done');
  t.regex((await spool.cli(['log', String(ro)], { user: b })).stdout, /shared-data-ok/);
  await daemon.stop();
});
