// `dopq rm`: owner and admin may cancel, anyone else is refused and the job is untouched.
import { access, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { docker, makeSpool, type TestSpool } from '../helpers/spool.js';
import { alice, bob, ensureUser } from '../helpers/users.js';

test('rm by another user is refused; by the owner it stops the running job', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const daemon = spool.startDaemon();
  const id = await spool.push({ name: 'long', command: 'sleep 300' }, alice());
  await spool.waitForJob(id, ['running']);

  // The container runs as its owner, hardened, whatever the manifest said.
  const info = await spool.waitFor(
    'the container',
    async () => (await docker.listContainers({ filters: { label: spool.labels(`dopq.job=${id}`) } }))[0],
  );
  const inspected = await docker.getContainer(info.Id).inspect();
  t.is(inspected.Config.User, `${alice().uid}:${alice().gid}`);
  t.deepEqual(inspected.HostConfig.CapDrop, ['ALL']);
  t.deepEqual(inspected.HostConfig.SecurityOpt, ['no-new-privileges']);
  t.false(inspected.HostConfig.Privileged);
  t.is(inspected.HostConfig.NetworkMode, 'none');
  t.is(inspected.HostConfig.Memory, 128 * 1024 ** 2);
  t.true((inspected.HostConfig.PidsLimit ?? 0) > 0);
  t.is(inspected.Config.Labels['dopq.user'], 'dopq-alice');

  const refused = await spool.cli(['rm', String(id)], { user: bob() });
  t.is(refused.code, 77);
  t.regex(refused.stderr, new RegExp(`job ${id}: belongs to dopq-alice`));
  await requestsHandled(spool);
  t.is((await spool.job(id))!.state, 'running', 'the job is untouched');

  const ok = await spool.cli(['rm', String(id)], { user: alice() });
  t.is(ok.code, 0, ok.stderr);
  const job = await spool.waitForJob(id, ['cancelled']);
  t.is(job.reason, 'cancelled');
  t.regex(job.message ?? '', /cancelled by dopq-alice/);
  await daemon.stop();
});

/**
 * Resolves once the daemon has handled the requests made so far: a marker request (one it
 * ignores) dropped now is gone only after a pass has read the requests folder and saved.
 */
async function requestsHandled(spool: TestSpool): Promise<void> {
  const marker = path.join(spool.spoolDir, 'requests', `${String(Date.now()).padStart(15, '0')}-marker.req`);
  await writeFile(marker, '{}\n', { mode: 0o600 });
  await spool.waitFor('the daemon to handle the marker request', () =>
    access(marker).then(
      () => false,
      () => true,
    ),
  );
}

test('rm of a queued job works without a daemon; the next pass acts on it', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const first = await spool.push({ name: 'keep', command: 'true' }, alice());
  const second = await spool.push({ name: 'drop', command: 'true' }, alice());
  // Not yet read by any daemon: withdrawn by its owner at once; refused to others.
  t.is((await spool.cli(['rm', String(second)], { user: bob() })).code, 77);
  const withdrawn = await spool.cli(['rm', String(second)], { user: alice() });
  t.is(withdrawn.code, 0, withdrawn.stderr);
  t.regex(withdrawn.stdout, /removed/);
  t.false((await spool.q()).jobs.some((j) => j.id === second));

  // Ingested by a pass, then cancelled while no daemon runs: the next pass records it.
  const third = await spool.push({ name: 'later', command: 'true', gpus: 1 }, bob());
  const blocker = await spool.push({ name: 'blocker', command: 'sleep 30' }, bob());
  t.is((await spool.cli(['run', '--once'])).code, 0);
  t.is((await spool.job(first))!.state, 'running');
  t.is((await spool.job(third))!.state, 'queued');
  t.is((await spool.cli(['rm', String(third)], { user: alice() })).code, 77);
  t.is((await spool.cli(['rm', String(third), String(blocker)], { user: bob() })).code, 0);
  t.is((await spool.cli(['run', '--once'])).code, 0);
  t.is((await spool.job(third))!.state, 'cancelled');
  t.is((await spool.job(blocker))!.state, 'cancelled');
  const missing = await spool.cli(['rm', '9999']);
  t.is(missing.code, 66);
});

test('a non-root admin may rm, hold and release any job, also one still in the intake; others may not', async (t) => {
  const carol = ensureUser('dopq-carol');
  const spool = await makeSpool(t, { gpus: [0], admins: [carol.name] });
  const [a, b] = [alice(), bob()];
  // No daemon yet: both jobs are alice's files in the intake, which carol cannot delete (sticky).
  const held = await spool.push({ name: 'held', command: 'true' }, a);
  const dropped = await spool.push({ name: 'dropped', command: 'true' }, a);
  for (const op of ['hold', 'rm']) t.is((await spool.cli([op, String(held)], { user: b })).code, 77, `bob may not ${op}`);
  const hold = await spool.cli(['hold', String(held)], { user: carol });
  t.is(hold.code, 0, hold.stderr);
  const rm = await spool.cli(['rm', String(dropped)], { user: carol });
  t.is(rm.code, 0, rm.stderr);
  t.regex(rm.stdout, new RegExp(`${dropped}: cancelling`));
  t.is((await spool.cli(['run', '--once'])).code, 0);
  t.is((await spool.job(dropped))!.state, 'cancelled');
  t.regex((await spool.job(dropped))!.message ?? '', /cancelled by dopq-carol/);
  const waiting = (await spool.job(held))!;
  t.is(waiting.state, 'queued');
  t.is(waiting.held_by, carol.name);
  t.is((await spool.cli(['release', String(held)], { user: carol })).code, 0);
  t.is((await spool.cli(['run', '--once'])).code, 0);
  t.is((await spool.waitForJob(held, ['running', 'done'])).held_by, null);
  t.is((await spool.cli(['log', String(held)], { user: carol })).code, 77, 'admins other than root read no output');
});
