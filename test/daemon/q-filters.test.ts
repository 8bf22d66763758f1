// `q -u`, `--me`, `--state`, `--name`, `-q` and `--format` with two real users on a real engine
// show exactly the right jobs; bulk `rm` (ranges, lists, --mine, -u, --state, --name) follows
// the ownership rules: alice cannot cancel bob's jobs, an admin can.
import test from 'ava';
import { makeSpool } from '../helpers/spool.js';
import { alice, bob, ensureUser } from '../helpers/users.js';

const lines = (text: string) => text.split('\n').filter(Boolean);

test('q filters, -q and --format show exactly the right jobs, for each user', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const [a, b] = [alice(), bob()];
  const gate = spool.gate('hold-gpu');
  const running = await spool.push({ name: 'train-a', command: gate.wait, mounts: gate.mounts, time_limit: '2h' }, a);
  spool.startDaemon();
  await spool.waitForJob(running, ['running']);
  const queuedA = await spool.push({ name: 'sweep-1', command: 'true' }, a);
  const queuedB = await spool.push({ name: 'sweep-2', command: 'true' }, b);
  const otherB = await spool.push({ name: 'eval-b', command: 'true' }, b);
  // Read by the daemon first: q lists the state and the intake side by side, and a job moving
  // from one to the other at that moment is another test's subject.
  await spool.waitFor('all read', async () => (await spool.q()).jobs.every((job) => job.ingested));

  const ids = async (args: string[], user = a) => {
    const result = await spool.cli(['q', '-q', ...args], { user });
    t.is(result.code, 0, result.stderr);
    return lines(result.stdout).map(Number);
  };
  t.deepEqual(await ids([]), [running, queuedA, queuedB, otherB]);
  t.deepEqual(await ids(['--me']), [running, queuedA]);
  t.deepEqual(await ids(['--me'], b), [queuedB, otherB]);
  t.deepEqual(await ids(['-u', 'dopq-bob']), [queuedB, otherB]);
  t.deepEqual(await ids(['-u', 'dopq-bob,dopq-alice', '--state', 'running']), [running]);
  t.deepEqual(await ids(['--state', 'queued']), [queuedA, queuedB, otherB]);
  t.deepEqual(await ids(['--name', 'sweep-*']), [queuedA, queuedB]);
  t.deepEqual(await ids(['--name', 'sweep-*', '--me'], b), [queuedB]);
  t.deepEqual(await ids(['--state', 'done']), []);

  const table = await spool.cli(['q', '--format', 'id,user,state', '--me'], { user: b });
  t.is(table.code, 0, table.stderr);
  t.deepEqual(
    lines(table.stdout)
      .filter((line) => line.startsWith('│'))
      .map((line) =>
        line
          .split('│')
          .slice(1, -1)
          .map((cell) => cell.trim()),
      ),
    [
      ['id', 'user', 'state'],
      [String(queuedB), 'dopq-bob', 'queued'],
      [String(otherB), 'dopq-bob', 'queued'],
    ],
  );
  const json = await spool.cli(['q', '--json', '--format', 'id,state,time_left', '--state', 'running,queued', '-u', 'dopq-alice'], {
    user: b,
  });
  const view = JSON.parse(json.stdout) as { jobs: { id: number; state: string; time_left: number | null }[] };
  t.deepEqual(
    view.jobs.map((job) => Object.keys(job)),
    [
      ['id', 'state', 'time_left'],
      ['id', 'state', 'time_left'],
    ],
  );
  t.deepEqual(
    view.jobs.map((job) => [job.id, job.state]),
    [
      [running, 'running'],
      [queuedA, 'queued'],
    ],
  );
  t.true(view.jobs[0]!.time_left! > 3600 && view.jobs[0]!.time_left! <= 7200, 'a 2h limit, just started');
  t.is(view.jobs[1]!.time_left, null);
  const tables = await spool.cli(['q'], { user: a });
  t.regex(
    tables.stdout,
    new RegExp(`│ ${running} +│ dopq-alice │ train-a │ 0 +│ \\S+ +│ 2h00m │ 1h5\\dm │`),
    'running shows limit and time left',
  );
  await gate.open();
});

test("bulk rm: alice cancels her own jobs in a range and is refused bob's; -u is for admins; an admin cancels anyone's", async (t) => {
  const carol = ensureUser('dopq-carol');
  const spool = await makeSpool(t, { gpus: [0], admins: [carol.name] });
  const [a, b] = [alice(), bob()];
  const gate = spool.gate('busy');
  const blocker = await spool.push({ name: 'blocker', command: gate.wait, mounts: gate.mounts }, b);
  spool.startDaemon();
  await spool.waitForJob(blocker, ['running']);
  const [a1, b1, a2, b2, a3] = [
    await spool.push({ name: 'sweep-a1', command: 'true' }, a),
    await spool.push({ name: 'sweep-b1', command: 'true' }, b),
    await spool.push({ name: 'sweep-a2', command: 'true' }, a),
    await spool.push({ name: 'eval-b2', command: 'true' }, b),
    await spool.push({ name: 'eval-a3', command: 'true' }, a),
  ];
  await spool.waitFor('all read', async () => (await spool.q()).jobs.every((job) => job.ingested));

  // A range over both users' jobs: hers are cancelled, bob's refused and untouched.
  const range = await spool.cli(['rm', `${a1}-${a2}`], { user: a });
  t.is(range.code, 1, range.stderr);
  t.is(range.stdout, 'cancelled 2 (2 queued); refused 1: 1 not yours (dopq-bob)\n');
  const refused = await spool.cli(['rm', '-u', 'dopq-bob'], { user: a });
  t.is(refused.code, 77);
  t.regex(refused.stderr, /only admins may cancel other users' jobs \(dopq-bob\)/);
  await spool.waitFor('the cancels', async () => {
    const jobs = (await spool.q()).jobs;
    return [a1, a2].every((id) => jobs.find((job) => job.id === id)!.state === 'cancelled');
  });
  const none = await spool.cli(['rm', '--mine', '--name', 'sweep-*'], { user: a });
  t.is(none.code, 66, 'nothing of hers is left that matches');
  t.regex(none.stdout, /^cancelled 0\n$/);
  const list = await spool.cli(['rm', `${b1},${b2}`], { user: a });
  t.is(list.code, 77, "a list of only bob's jobs: each refused");
  for (const id of [b1, b2, a3]) t.is((await spool.job(id))!.state, 'queued', `job ${id} untouched`);

  // bob by his filters: only his queued jobs named eval-*; his running blocker stays.
  const mine = await spool.cli(['rm', '--state', 'queued', '--name', 'eval-*'], { user: b });
  t.is(mine.code, 0, mine.stderr);
  t.is(mine.stdout, 'cancelled 1 (1 queued)\n');
  await spool.waitForJob(b2, ['cancelled']);
  // An admin: every job of bob's, running or queued.
  const admin = await spool.cli(['rm', '-u', 'dopq-bob'], { user: carol });
  t.is(admin.code, 0, admin.stderr);
  t.is(admin.stdout, 'cancelled 2 (1 queued, 1 running)\n');
  for (const id of [b1, b2, blocker]) await spool.waitForJob(id, ['cancelled']);
  t.is((await spool.job(a3))!.state === 'cancelled', false, "alice's other job is untouched");
});
