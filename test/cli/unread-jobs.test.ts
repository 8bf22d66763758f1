// hold, release and rm on jobs the daemon has not read yet (still intake files), with real
// users and no daemon until the end: what the owner asked last is what the daemon does.
import test from 'ava';
import { makeSpool } from '../helpers/spool.js';
import { alice } from '../helpers/users.js';

test('hold then release of an unread job: the release undoes the hold once the daemon reads both', async (t) => {
  const spool = await makeSpool(t, { gpus: [0, 1] });
  const a = alice();
  const released = await spool.push({ name: 'released', command: 'true' }, a);
  const held = await spool.push({ name: 'held', command: 'true' }, a);
  for (const id of [released, held]) {
    const hold = await spool.cli(['hold', String(id)], { user: a });
    t.is(hold.code, 0, hold.stderr);
    t.is(hold.stdout, `${id}: held\n`);
  }
  const release = await spool.cli(['release', String(released)], { user: a });
  t.is(release.code, 0, release.stderr);
  t.is(release.stdout, `${released}: released\n`);

  t.is((await spool.cli(['run', '--once'])).code, 0);
  const [first, second] = [await spool.job(released), await spool.job(held)];
  t.true(first?.state === 'running' || first?.state === 'done', `released job: ${first?.state}`);
  t.is(first?.held_by, null);
  t.is(second?.state, 'queued');
  t.is(second?.held_by, a.name);
  // Read now: release checks the hold it sees.
  t.is((await spool.cli(['release', String(released)], { user: a })).code, 1, 'not held any more');
});

test('rm of an unread job withdraws it; requests made for it never reach the job that takes its number', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const a = alice();
  const first = await spool.push({ name: 'first', command: 'true' }, a);
  t.is((await spool.cli(['hold', String(first)], { user: a })).code, 0);
  t.is((await spool.cli(['top', String(first)], { user: a })).code, 0);
  const rm = await spool.cli(['rm', String(first)], { user: a });
  t.is(rm.code, 0, rm.stderr);
  t.is(rm.stdout, `${first}: removed\n`);
  t.false(
    (await spool.q()).jobs.some((job) => job.id === first),
    'gone from q at once',
  );

  const next = await spool.push({ name: 'next', command: 'true' }, a);
  t.is(next, first, 'push takes the lowest free number');
  t.is((await spool.cli(['run', '--once'])).code, 0);
  const job = await spool.job(next);
  t.is(job?.name, 'next');
  t.true(job?.state === 'running' || job?.state === 'done', `neither held nor cancelled by the old requests: ${job?.state}`);
  t.is(job?.held_by, null);
});
