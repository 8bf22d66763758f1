// Penalty order between two real users, and multi-GPU jobs that wait for enough free GPUs.
import test from 'ava';
import { makeSpool } from '../helpers/spool.js';
import { alice, bob } from '../helpers/users.js';

test("a lighter user's job starts before a heavier user's earlier job", async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const daemon = spool.startDaemon();
  const gate = spool.gate('a1');
  const a1 = await spool.push({ name: 'a1', command: gate.wait, mounts: gate.mounts }, alice());
  await spool.waitForJob(a1, ['running']);
  const a2 = await spool.push({ name: 'a2', command: 'true' }, alice());
  // b1 is pushed strictly later than a2: once the clock has passed a2's submission time.
  const a2Submitted = Date.parse((await spool.job(a2))!.submitted_at);
  await spool.waitFor("the clock to pass a2's submission", async () => Date.now() > a2Submitted);
  const b1 = await spool.push({ name: 'b1', command: 'true' }, bob());

  // Both taken in by the daemon before a1 ends: otherwise the pass that frees the GPU may have
  // read the intake before b1 arrived, and a2 would start for want of b1, not by penalty.
  const queued = await spool.waitFor('a2 and b1 in the state', async () => {
    const view = await spool.q();
    return [a2, b1].every((id) => view.jobs.find((j) => j.id === id)?.ingested === true) && view;
  });
  const position = (id: number) => queued.jobs.find((j) => j.id === id)!.position;
  t.true(position(b1)! < position(a2)!, 'bob (no usage) is ahead of alice (running a1) in the queue');
  const alicePenalty = queued.users.find((u) => u.user === 'dopq-alice')!.penalty;
  t.true((alicePenalty ?? 0) > 0, 'running work counts in the penalty');
  await gate.open();

  const [a2Done, b1Done] = [await spool.waitForJob(a2, ['done']), await spool.waitForJob(b1, ['done'])];
  t.true(Date.parse(b1Done.started_at!) <= Date.parse(a2Done.started_at!), 'b1 started first');
  t.true(Date.parse(b1Done.finished_at!) <= Date.parse(a2Done.started_at!), 'one GPU: a2 waited for b1');
  await daemon.stop();
});

test('a multi-GPU job waits for enough GPUs; a short job backfills beside it, a long one waits behind it', async (t) => {
  const spool = await makeSpool(t, { gpus: [0, 1] });
  const daemon = spool.startDaemon();
  const gate = spool.gate('small');
  const small = await spool.push({ name: 'small', command: gate.wait, mounts: gate.mounts, gpus: 1 });
  await spool.waitForJob(small, ['running']);
  const big = await spool.push({ name: 'big', command: 'echo "$NVIDIA_VISIBLE_DEVICES"', gpus: 2 });
  // small may hold GPU 0 for its whole 10-minute limit: big is promised both GPUs from then on.
  const long = await spool.push({ name: 'long', command: 'true', gpus: 1, time_limit: '20m' });
  const short = await spool.push({ name: 'short', command: 'true', gpus: 1, time_limit: '1m' });
  await spool.waitForJob(short, ['done']);
  t.is((await spool.job(big))!.state, 'queued', 'big waits while only one GPU is free');
  t.is((await spool.job(long))!.state, 'queued', 'long would still hold GPU 1 when big is due: it waits');
  const view = await spool.q();
  t.is(view.reservation?.job, big);
  t.is(view.jobs.find((j) => j.id === big)!.estimated_start, view.reservation!.at);
  t.is((await spool.job(small))!.state, 'running');
  await gate.open();

  const bigDone = await spool.waitForJob(big, ['done']);
  t.is(bigDone.gpus.length, 2);
  const smallDone = (await spool.job(small))!;
  t.true(Date.parse(bigDone.started_at!) >= Date.parse(smallDone.finished_at!), 'started only after the GPU was freed');
  t.is((await spool.cli(['log', String(big)])).stdout.trim().split(',').sort().join(','), '0,1');
  const longDone = await spool.waitForJob(long, ['done']);
  t.true(Date.parse(longDone.started_at!) >= Date.parse(bigDone.started_at!), 'long started only once big had its GPUs');
  await daemon.stop();
});
