// Job arrays and dependencies with real users on a real engine: a %4 array never runs more than
// four tasks at once and every task sees its index; --after runs B only after A ended done, and
// cancels it (dependency-failed) when A failed.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { IMAGE, makeSpool } from '../helpers/spool.js';
import { alice, bob } from '../helpers/users.js';

test('a 20-task array with %4: at most 4 run at once, the rest wait for array-limit, each task sees its index', async (t) => {
  const spool = await makeSpool(t);
  const gate = spool.gate('array');
  const s = spool.shared;
  // Each task marks itself running, counts the running marks, waits at the gate, unmarks itself.
  const script = [
    `mkdir ${s}/run-$DOPQ_ARRAY_INDEX`,
    `n=$(ls -d ${s}/run-* | wc -l)`,
    `echo "$DOPQ_ARRAY_ID $DOPQ_ARRAY_INDEX $DOPQ_ARRAY_SIZE $DOPQ_JOB_ID $n" > ${s}/seen-$DOPQ_ARRAY_INDEX`,
    gate.wait,
    `rmdir ${s}/run-$DOPQ_ARRAY_INDEX`,
  ].join('; ');
  // No GPUs: nothing but the cap keeps all 20 from starting in the first pass.
  const pushed = await spool.cli(
    ['push', '--json', '--image', IMAGE, '--gpus', '0', '--array', '0-19%4', '--mount', `${s}:${s}`, '--', 'sh', '-c', script],
    {
      user: alice(),
    },
  );
  t.is(pushed.code, 0, pushed.stderr);
  const { id, last_id } = JSON.parse(pushed.stdout) as { id: number; last_id: number };
  t.is(last_id, id + 19);
  const daemon = spool.startDaemon();
  const view = await spool.waitFor('4 tasks running', async () => {
    const q = await spool.q();
    return q.jobs.filter((job) => job.state === 'running').length === 4 && q;
  });
  const tasks = view.jobs.filter((job) => job.array?.id === id);
  t.is(tasks.length, 20);
  t.deepEqual(
    tasks.map((job) => job.id),
    Array.from({ length: 20 }, (_, i) => id + i),
    'consecutive ids',
  );
  t.true(tasks.every((job) => job.user === alice().name && job.array?.size === 20 && job.array.throttle === 4));
  for (const job of tasks.filter((j) => j.state === 'queued')) t.is(job.waiting_for, 'array-limit', `task ${job.id}`);
  await gate.open();
  await spool.waitFor('all tasks done', async () =>
    (await spool.q()).jobs.filter((job) => job.array?.id === id).every((job) => job.state === 'done'),
  );
  const seen = (await readdir(s)).filter((name) => name.startsWith('seen-'));
  t.is(seen.length, 20);
  let most = 0;
  for (let index = 0; index < 20; index++) {
    const [arrayId, got, size, jobId, running] = (await readFile(path.join(s, `seen-${index}`), 'utf8')).trim().split(' ').map(Number);
    t.deepEqual([arrayId, got, size, jobId], [id, index, 20, id + index]);
    most = Math.max(most, running!);
  }
  t.true(most <= 4, `${most} tasks ran at once`);
  await daemon.stop();
});

test('--after runs B only after A ended done; when A fails (exit 3) B is cancelled, and --after-any still runs', async (t) => {
  const spool = await makeSpool(t);
  const daemon = spool.startDaemon();
  const gate = spool.gate('a');
  const a = await spool.push({ name: 'a', command: `${gate.wait}; echo a > ${spool.shared}/a-done`, mounts: gate.mounts, gpus: 0 }, bob());
  const b = await spool.cli(
    ['push', '--image', IMAGE, '--gpus', '0', '--after', String(a), '--mount', `${spool.shared}:/s`, '--', 'sh', '-c', 'cat /s/a-done'],
    {
      user: bob(),
    },
  );
  t.is(b.code, 0, b.stderr);
  const bId = Number(b.stdout);
  await spool.waitForJob(a, ['running']);
  const waiting = await spool.waitFor('B taken in', async () => {
    const job = await spool.job(bId);
    return job?.ingested && job;
  });
  t.is(waiting.state, 'queued');
  t.is(waiting.waiting_for, 'dependency');
  t.is(waiting.estimated_start, null);
  t.deepEqual(waiting.after, [a]);
  await gate.open();
  t.is((await spool.waitForJob(bId, ['done', 'failed', 'cancelled'])).state, 'done', 'B read what A wrote: it ran after A');

  const failing = await spool.push({ name: 'fails', command: 'exit 3', gpus: 0 }, bob());
  const after = await spool.cli(['push', '--image', IMAGE, '--gpus', '0', '--after', String(failing), '--', 'true'], { user: bob() });
  const afterAny = await spool.cli(['push', '--image', IMAGE, '--gpus', '0', '--after-any', String(failing), '--', 'true'], {
    user: bob(),
  });
  const failed = await spool.waitForJob(failing, ['failed', 'done']);
  t.is(failed.exit_code, 3);
  const cancelled = await spool.waitForJob(Number(after.stdout), ['cancelled', 'done', 'failed']);
  t.is(cancelled.state, 'cancelled');
  t.is(cancelled.reason, 'dependency-failed');
  t.is(cancelled.started_at, null, 'it never ran');
  t.is((await spool.waitForJob(Number(afterAny.stdout), ['done', 'failed', 'cancelled'])).state, 'done');
  await daemon.stop();
});
