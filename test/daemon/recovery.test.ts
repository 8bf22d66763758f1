// Surviving the daemon: single instance, SIGKILL and re-adoption, outcomes recorded while down,
// SIGTERM leaving containers running, and cron-style --once.
import test from 'ava';
import { docker, makeSpool } from '../helpers/spool.js';
import { alice } from '../helpers/users.js';

test('a second daemon on the same spool is refused', async (t) => {
  const spool = await makeSpool(t);
  const first = spool.startDaemon();
  await spool.waitFor('the first daemon', async () => (await spool.q()).daemon.running);
  const second = await spool.cli(['run']);
  t.is(second.code, 75);
  t.regex(second.stderr, /another dopq run is active on this spool \(pid \d+\)/);
  t.is(first.child.exitCode, null);
  t.is(await first.stop(), 0, 'SIGTERM stops cleanly');
  t.false((await spool.q()).daemon.running);
});

test('after SIGKILL the next daemon takes the lock at once and adopts running jobs', async (t) => {
  const spool = await makeSpool(t, { gpus: [0, 1] });
  const first = spool.startDaemon();
  const gate = spool.gate('keeps');
  const keeps = await spool.push(
    { name: 'keeps-running', command: `echo one; ${gate.wait}; echo two; exit 3`, mounts: gate.mounts },
    alice(),
  );
  const endsWhileDown = await spool.push({ name: 'ends-while-down', command: 'echo bye' }, alice());
  await spool.waitForJob(keeps, ['running']);
  await spool.waitForJob(endsWhileDown, ['running', 'done']);
  await first.stop('SIGKILL');
  await gate.open();

  const second = spool.startDaemon();
  const done = await spool.waitForJob(keeps, ['failed', 'done']);
  t.is(done.state, 'failed');
  t.is(done.exit_code, 3);
  t.is(done.reason, 'exited');
  t.regex((await spool.cli(['log', String(keeps)])).stdout, /one\s+two/);
  const other = await spool.waitForJob(endsWhileDown, ['done']);
  t.is(other.exit_code, 0);
  t.regex((await spool.cli(['log', String(endsWhileDown)])).stdout, /bye/);
  await second.stop();
});

test('SIGTERM leaves containers running; the next daemon records how they ended', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const first = spool.startDaemon();
  const gate = spool.gate('outlives');
  const id = await spool.push({ name: 'outlives', command: `${gate.wait}; echo finished`, mounts: gate.mounts }, alice());
  const job = await spool.waitForJob(id, ['running']);
  t.is(await first.stop('SIGTERM'), 0);
  const containers = await docker.listContainers({ filters: { label: spool.labels(`dopq.job=${id}`) } });
  t.true(
    containers.some((c) => c.Labels['dopq.user'] === 'dopq-alice' && c.State === 'running'),
    'container kept running, labelled',
  );
  await gate.open();
  await spool.waitFor(
    'the container to exit',
    async () =>
      (await docker.listContainers({ all: true, filters: { label: spool.labels(`dopq.job=${id}`), status: ['exited'] } })).length > 0,
  );
  const again = spool.startDaemon();
  const finished = await spool.waitForJob(id, ['done']);
  t.is(finished.started_at, job.started_at);
  t.regex((await spool.cli(['log', String(id)])).stdout, /finished/);
  await again.stop();
});

test('run --once ingests, starts, and on a later pass reaps and records', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const a = await spool.push({ name: 'a', command: 'echo a' });
  const b = await spool.push({ name: 'b', command: 'echo b' });
  const first = await spool.cli(['run', '--once']);
  t.is(first.code, 0, first.stderr);
  let view = await spool.q();
  t.is(view.jobs.find((j) => j.id === a)!.state, 'running');
  t.is(view.jobs.find((j) => j.id === b)!.state, 'queued');
  t.false(view.daemon.running, 'no daemon left behind');
  await spool.waitFor(
    'a to exit',
    async () => (await docker.listContainers({ filters: { label: spool.labels(`dopq.job=${a}`), status: ['exited'] } })).length > 0,
  );
  t.is((await spool.cli(['run', '--once'])).code, 0);
  view = await spool.q();
  t.is(view.jobs.find((j) => j.id === a)!.state, 'done');
  t.is(view.jobs.find((j) => j.id === b)!.state, 'running');
});
