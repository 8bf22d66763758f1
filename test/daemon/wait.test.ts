// `dopq wait` and `dopq log -f` on a real engine, as real users: the job's own exit code (a job
// that does `exit 3` gives 3), 0 for done, 200 for cancelled, the highest for several, a job
// still unread by the daemon waited for too; `log --tail` and `--since` on real output.
import test from 'ava';
import { WaitCode } from '../../src/core/job/wait-code.js';
import { IMAGE, makeSpool } from '../helpers/spool.js';
import { alice, bob } from '../helpers/users.js';

test("wait exits with the job's code: exit 3 gives 3, done 0, cancelled 200; several the highest; log -f the same", async (t) => {
  const spool = await makeSpool(t, { gpus: [0, 1] });
  const a = alice();
  // Pushed before any daemon runs: wait must wait for jobs the daemon has not read yet.
  const three = await spool.push({ name: 'three', command: 'echo failing; exit 3' }, a);
  const ok = await spool.push({ name: 'ok', command: 'true' }, a);
  const waitThree = spool.cli(['wait', String(three)], { user: a });
  const follow = spool.cli(['log', '-f', String(three)], { user: a });
  const waitBoth = spool.cli(['wait', '--json', `${three},${ok}`], { user: bob() });
  spool.startDaemon();

  const one = await waitThree;
  t.is(one.code, 3, one.stderr);
  t.is(one.stdout, `${three}: failed (exit 3)\n`);
  const followed = await follow;
  t.is(followed.code, 3, followed.stderr);
  t.is(followed.stdout, 'failing\n');
  const both = await waitBoth;
  t.is(both.code, 3, 'anyone may wait for any job; the highest code of the two');
  t.deepEqual(JSON.parse(both.stdout), {
    exit_code: 3,
    jobs: [
      { id: three, state: 'failed', reason: 'exited', exit_code: 3, wait_code: 3 },
      { id: ok, state: 'done', reason: 'exited', exit_code: 0, wait_code: 0 },
    ],
  });
  t.is((await spool.cli(['wait', String(ok)], { user: a })).code, 0, 'an ended job answers at once');

  const gate = spool.gate('never');
  const long = await spool.push({ name: 'long', command: gate.wait, mounts: gate.mounts }, a);
  await spool.waitForJob(long, ['running']);
  const waitLong = spool.cli(['wait', String(long)], { user: a });
  const followLong = spool.cli(['log', '-f', String(long)], { user: a });
  t.is((await spool.cli(['rm', String(long)], { user: a })).code, 0);
  t.is((await waitLong).code, WaitCode.cancelled);
  t.is((await followLong).code, WaitCode.cancelled);
  t.is((await spool.cli(['wait', String(ok), String(long)], { user: a })).code, WaitCode.cancelled);
  t.is((await spool.cli(['wait', '9999'], { user: a })).code, 66, 'a job that does not exist is an error, not a wait');
});

test('log --tail N prints the last lines; --since only what was written lately', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const a = alice();
  const gate = spool.gate('later');
  spool.startDaemon();
  const id = await spool.push(
    {
      name: 'talky',
      command: `for i in 1 2 3 4 5; do echo line $i; done; ${gate.wait}; sleep 1.5; echo late 1; echo late 2`,
      mounts: gate.mounts,
    },
    a,
  );
  await spool.waitFor('the first lines', async () => (await spool.cli(['log', String(id)], { user: a })).stdout.includes('line 5'));
  t.is((await spool.cli(['log', '--tail', '2', String(id)], { user: a })).stdout, 'line 4\nline 5\n');
  t.is((await spool.cli(['log', '--tail', '0', String(id)], { user: a })).stdout, '');
  t.is((await spool.cli(['log', '--tail', '99', String(id)], { user: a })).stdout, 'line 1\nline 2\nline 3\nline 4\nline 5\n');
  await gate.open();
  await spool.waitForJob(id, ['done']);
  const all = (await spool.cli(['log', String(id)], { user: a })).stdout;
  t.is(all, 'line 1\nline 2\nline 3\nline 4\nline 5\nlate 1\nlate 2\n');
  t.is((await spool.cli(['log', '--tail', '1', String(id)], { user: a })).stdout, 'late 2\n');
  // The late lines came at least 1.5 s after the others: a look back of 1 s (plus the time
  // since the job ended) holds them and none of the first.
  const ended = Date.parse((await spool.job(id))!.finished_at!);
  const since = Math.ceil((Date.now() - ended) / 1000) + 1;
  t.is((await spool.cli(['log', '--since', `${since}s`, String(id)], { user: a })).stdout, 'late 1\nlate 2\n');
  t.is((await spool.cli(['log', '--since', '1h', String(id)], { user: a })).stdout, all);
  t.is((await spool.cli(['log', '--since', '1h', '--tail', '3', String(id)], { user: a })).stdout, 'line 5\nlate 1\nlate 2\n');
});

test('push --wait queues the job, prints its id, then exits with its code (exit 3 gives 3); --json prints only the wait object', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const a = alice();
  spool.startDaemon();
  const pushed = await spool.cli(['push', '--wait', '--image', IMAGE, '--gpus', '0', '--', 'sh', '-c', 'echo bye; exit 3'], { user: a });
  t.is(pushed.code, 3, pushed.stderr);
  const [idLine, endLine] = pushed.stdout.split('\n');
  t.regex(idLine ?? '', /^\d+$/);
  t.is(endLine, `${idLine}: failed (exit 3)`);
  const job = await spool.waitForJob(Number(idLine), ['failed']);
  t.is(job.exit_code, 3);

  const json = await spool.cli(['push', '--wait', '--json', '--image', IMAGE, '--gpus', '0', '--', 'true'], { user: a });
  t.is(json.code, 0, json.stderr);
  const waited = JSON.parse(json.stdout) as { exit_code: number; jobs: { id: number; state: string }[] };
  t.is(waited.exit_code, 0);
  t.is(waited.jobs.length, 1);
  t.is(waited.jobs[0]!.state, 'done');
});
