// No user can outgrow the queue (issue 12): a flood of hand-written intake files costs its
// author their own files, rejected records stay few and short, and above the state's ceiling
// nothing new is read while push refuses with a reason. Real users, a real daemon.
import { chown, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import type { StateFile } from '../../src/core/state.js';
import { writeFileAtomic } from '../../src/io/files/atomic-write.js';
import { IMAGE, makeSpool } from '../helpers/spool.js';
import { alice, bob } from '../helpers/users.js';

const count = (text: string, pattern: RegExp) => text.split('\n').filter((line) => pattern.test(line)).length;

test("1,500 bad intake files with 40 kB names: bob keeps 200 waiting and 20 short rejected records; alice's job still runs", async (t) => {
  const spool = await makeSpool(t, { gpus: [0], limits: { per_user: { waiting_files: 200, rejected: 20 } } });
  const [a, b] = [alice(), bob()];
  const intake = path.join(spool.spoolDir, 'intake');
  // The case: each file a valid envelope (right name, right id) with a huge `source`
  // and a manifest that fails validation, so each would have become a kept record.
  const longName = `/home/bob/${'x'.repeat(40_000)}.yaml`;
  for (let id = 1; id <= 1500; id++) {
    const file = path.join(intake, `${id}.job`);
    await writeFile(
      file,
      JSON.stringify({ id, submitted_at: Date.now(), source: longName, manifest: `image: ${IMAGE}\nbogus_field: ${id}\n` }),
      { mode: 0o600 },
    );
    await chown(file, b.uid, b.gid);
  }
  const daemon = spool.startDaemon();
  await spool.waitFor('the flood to be handled', async () => (await readdir(intake)).length === 0, 240_000);
  const mine = await spool.push({ name: 'alice-after', command: 'echo fine' }, a);
  t.is((await spool.waitForJob(mine, ['done'], 240_000)).state, 'done', "alice's job starts as usual");

  const jobs = (await spool.q()).jobs;
  const bobs = jobs.filter((job) => job.user === 'dopq-bob');
  t.is(bobs.length, 20, 'at most limits.per_user.rejected records of bob');
  for (const job of bobs) {
    t.is(job.state, 'rejected');
    t.true((job.message ?? '').length <= 2100, `record ${job.id}: ${(job.message ?? '').length} characters`);
    t.regex(job.message ?? '', /bogus_field/, 'the summary still says what was wrong');
  }
  t.true(mine <= 1501 && mine > 0, `alice's job number ${mine}`);
  const stateBytes = (await stat(path.join(spool.spoolDir, 'state', 'state.json'))).size;
  t.true(stateBytes < 200_000, `state.json is ${stateBytes} bytes, not hundreds of MB`);
  t.true((await readdir(path.join(spool.spoolDir, 'rejected'))).length <= 20, 'the refused files kept for admins are bounded too');

  const log = daemon.output();
  t.is(count(log, /removed 1300 of dopq-bob's 1500 files in intake\/ and requests\/ unread/), 1, log.slice(0, 4000));
  t.is(count(log, /pass failed|failed: .*the rest of the pass goes on/), 0);
  t.is(daemon.child.exitCode, null, 'the daemon keeps running');
  await daemon.stop();
});

test('above limits.state_size the daemon reads nothing new, push refuses with exit 75, and nothing is lost', async (t) => {
  const spool = await makeSpool(t, { gpus: [0], limits: { state_size: '1m' } });
  const a = alice();
  // A state past 1 MB of finished records, as a busy month would leave.
  const now = Date.now();
  const state: StateFile = { version: 1, gpus: [], daemon: null, carried_usage: [], jobs: [] };
  for (let id = 1; id <= 6000; id++) {
    state.jobs.push({
      id,
      user: 'dopq-alice',
      uid: a.uid,
      name: `finished-${'n'.repeat(100)}-${id}`,
      image: IMAGE,
      gpus_requested: 1,
      gpus: [],
      state: 'done',
      submitted_at: now - 60_000,
      started_at: now - 50_000,
      finished_at: now - 40_000,
      time_limit: 600,
      exit_code: 0,
    } as StateFile['jobs'][number]);
  }
  await writeFileAtomic(path.join(spool.spoolDir, 'state', 'state.json'), JSON.stringify(state));
  t.true((await stat(path.join(spool.spoolDir, 'state', 'state.json'))).size > 1024 ** 2);

  const manifest = path.join(spool.dir, 'refused.yaml');
  await writeFile(manifest, `image: ${IMAGE}\ncommand: 'true'\n`, { mode: 0o644 });
  const refused = await spool.cli(['push', manifest], { user: a });
  t.is(refused.code, 75, refused.stderr);
  t.regex(refused.stderr, /the queue's state is [\d.]+ MB, over limits\.state_size \(1 MB\); nothing was queued/);

  // A job file already in the intake (pushed before the state grew) waits; it is not lost.
  const file = path.join(spool.spoolDir, 'intake', '6001.job');
  await writeFile(
    file,
    JSON.stringify({ id: 6001, submitted_at: now, source: '/home/alice/waiting.yaml', manifest: `image: ${IMAGE}\ncommand: 'true'\n` }),
    { mode: 0o600 },
  );
  await chown(file, a.uid, a.gid);
  const daemon = spool.startDaemon();
  await spool.waitFor('the daemon to say why', async () => /over limits\.state_size/.test(daemon.output()));
  t.deepEqual(await readdir(path.join(spool.spoolDir, 'intake')), ['6001.job'], 'the job file waits in the intake');
  t.is((await spool.q()).jobs.find((job) => job.id === 6001)?.ingested, false, 'q shows it waiting in the intake');
  t.is(count(daemon.output(), /over limits\.state_size/), 1, 'said once, not on every pass');
  await daemon.stop();

  // Once finished records age out (here: history cleared by hand), the waiting job goes in and runs.
  const smaller = JSON.parse(await readFile(path.join(spool.spoolDir, 'state', 'state.json'), 'utf8')) as StateFile;
  smaller.jobs = smaller.jobs.slice(-10);
  await writeFileAtomic(path.join(spool.spoolDir, 'state', 'state.json'), JSON.stringify(smaller));
  const again = spool.startDaemon();
  t.is((await spool.waitForJob(6001, ['done'], 240_000)).state, 'done');
  await again.stop();
});
