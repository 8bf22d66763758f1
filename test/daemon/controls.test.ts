// Queue controls with real users: hold, release, top, pause and resume, and their refusals; the
// admin-only usage reset, history clear and shutdown; who may submit and how many jobs wait.
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { docker, makeSpool } from '../helpers/spool.js';
import { alice, bob } from '../helpers/users.js';

test('hold, release and top act on your own jobs only; pause stops starts, resume restarts them', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const daemon = spool.startDaemon();
  t.is((await spool.cli(['pause'], { user: alice() })).code, 77, 'pause is for admins');
  const paused = await spool.cli(['pause']);
  t.is(paused.code, 0, paused.stderr);
  await spool.waitFor('pause to apply', async () => (await spool.q()).paused !== null);

  const a1 = await spool.push({ name: 'a1', command: 'true' }, alice());
  const a2 = await spool.push({ name: 'a2', command: 'true' }, alice());
  const a3 = await spool.push({ name: 'a3', command: 'true' }, alice());
  // Read by the daemon: release of an unread job is a request it applies in order, never "not held".
  for (const id of [a1, a2, a3]) {
    const job = await spool.waitFor(`job ${id} read`, async () => {
      const view = await spool.job(id);
      return view?.ingested ? view : undefined;
    });
    t.like(job, { state: 'queued', waiting_for: 'paused', estimated_start: null });
  }

  for (const op of ['hold', 'top', 'release']) {
    const refused = await spool.cli([op, String(a1)], { user: bob() });
    t.is(refused.code, 77, `${op} by another user`);
    t.regex(refused.stderr, /belongs to dopq-alice; only its owner or an admin/);
  }
  t.is((await spool.cli(['release', String(a1)], { user: alice() })).code, 1, 'release of a job that is not held');
  t.is((await spool.cli(['hold', String(a1)], { user: alice() })).code, 0);
  t.is((await spool.cli(['top', String(a3)], { user: alice() })).code, 0);
  await spool.waitFor('hold and top to apply', async () => {
    const view = await spool.q();
    const job = (id: number) => view.jobs.find((j) => j.id === id)!;
    return job(a1).held_by === 'dopq-alice' && job(a3).position === 1 && job(a2).position === 2 && job(a1).position === null;
  });
  t.is((await spool.q(bob())).jobs.find((j) => j.id === a1)!.waiting_for, 'held', 'everyone sees that it is held');

  t.is((await spool.cli(['resume'])).code, 0);
  const [done3, done2] = [await spool.waitForJob(a3, ['done']), await spool.waitForJob(a2, ['done'])];
  t.true(Date.parse(done3.started_at!) <= Date.parse(done2.started_at!), 'the topped job ran first');
  t.is((await spool.job(a1))!.state, 'queued', 'the held job stays queued while the GPU is free');

  t.is((await spool.cli(['release', String(a1)], { user: alice() })).code, 0);
  await spool.waitForJob(a1, ['done']);
  t.regex(daemon.output(), /refused|held by dopq-alice/);
  await daemon.stop();
});

test('admins reset usage and clear history; others are refused and nothing changes', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const daemon = spool.startDaemon();
  const job = await spool.push({ name: 'work', command: 'sleep 1' }, alice());
  await spool.waitForJob(job, ['done']);
  const usage = async () => (await spool.q()).users.find((u) => u.user === 'dopq-alice')?.usage_gpu_hours ?? 0;
  t.true((await usage()) > 0);

  for (const args of [
    ['usage', 'reset', 'dopq-alice'],
    ['history', 'clear'],
  ]) {
    const refused = await spool.cli(args, { user: bob() });
    t.is(refused.code, 77, args.join(' '));
    t.regex(refused.stderr, /only admins may do this \(dopq-bob is not one\)/);
  }
  t.is((await spool.cli(['usage', 'reset', 'dopq-alice'])).code, 0);
  await spool.waitFor('usage to be reset', async () => (await usage()) === 0);
  t.truthy(await spool.job(job), 'the finished job is still in the history');

  t.is((await spool.cli(['history', 'clear', '--before', 'yesterday'])).code, 64, 'a date it cannot read');
  await spool.inspectContainers(); // clearing the history removes the job's kept container
  t.is((await spool.cli(['history', 'clear'])).code, 0);
  await spool.waitFor('history to be cleared', async () => (await spool.job(job)) === undefined);
  t.is((await spool.cli(['log', String(job)], { user: alice() })).code, 66, 'its log went with it');
  await daemon.stop();
});

test('shutdown: admins only; the daemon exits cleanly and its containers keep running', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  t.is((await spool.cli(['shutdown'])).code, 69, 'no daemon to stop');
  const daemon = spool.startDaemon();
  const gate = spool.gate('run');
  const job = await spool.push({ name: 'long', command: gate.wait, mounts: gate.mounts }, alice());
  const running = await spool.waitForJob(job, ['running']);
  t.is((await spool.cli(['shutdown'], { user: alice() })).code, 77);
  // A pass on a loaded 2-core CI machine has taken 40 s: wait for the exit longer than 30 s.
  const stopped = await spool.cli(['shutdown', '--wait', '180']);
  t.is(stopped.code, 0, stopped.stderr);
  t.regex(stopped.stdout, /daemon \(pid \d+\) stopped/);
  t.is(await daemon.exited, 0);
  const containers = await docker.listContainers({ filters: { label: spool.labels(`dopq.job=${job}`) } });
  t.is(containers.length, 1, 'the job is still running without a daemon');
  t.is(running.state, 'running');

  const next = spool.startDaemon();
  await gate.open();
  await spool.waitForJob(job, ['done']);
  await next.stop();
});

test('submitters and the per-user queue cap: refused by push, and by the daemon for forged files', async (t) => {
  const spool = await makeSpool(t, { gpus: [0], submitters: ['dopq-alice'], limits: { per_user: { queued: 2 } } });
  const manifest = path.join(spool.dir, 'm.yaml');
  await writeFile(manifest, 'image: dopq-busybox:latest\ncommand: "true"\n', { mode: 0o644 });
  const bobPush = await spool.cli(['push', manifest], { user: bob() });
  t.is(bobPush.code, 77);
  t.regex(bobPush.stderr, /dopq-bob may not submit jobs here/);

  t.is((await spool.cli(['pause'])).code, 0);
  await spool.push({ name: 'one', command: 'true' }, alice());
  await spool.push({ name: 'two', command: 'true' }, alice());
  const third = await spool.cli(['push', manifest], { user: alice() });
  t.is(third.code, 75, 'queue cap reached: try again later');
  t.regex(third.stderr, /you already have 2 jobs waiting; at most 2 per user/);
  t.is((await spool.q()).jobs.length, 2, 'nothing was queued');

  // Bob writes a job file himself, bypassing push: the daemon refuses it by its owner's uid.
  const envelope = JSON.stringify({
    id: 30,
    submitted_at: Date.now(),
    source: 'forged.yaml',
    manifest: 'image: dopq-busybox:latest\ncommand: "true"\n',
  });
  execFileSync('sh', ['-c', `cat > ${path.join(spool.spoolDir, 'intake', '30.job')}`], {
    input: envelope,
    uid: bob().uid,
    gid: bob().gid,
  });
  const daemon = spool.startDaemon();
  const forged = await spool.waitForJob(30, ['rejected']);
  t.is(forged.user, 'dopq-bob');
  t.regex(forged.message ?? '', /dopq-bob may not submit jobs here \(not in submitters: dopq-alice\)/);
  await daemon.stop();
});
