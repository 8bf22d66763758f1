// The bad-manifest corpus against a real daemon and the real CLI: dropped straight into the
// intake (as a user who skips push would) while good jobs are pushed at the same time, every
// bad file becomes a rejected job its owner sees with the reason, and every good job runs.
import { chown, mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { withoutGivenValue } from '../../src/core/document/schema-issues.js';
import { CORPUS_DIR, corpusConfig, expectedExit, expectedReason } from '../corpus/corpus-config.js';
import { makeSpool } from '../helpers/spool.js';
import { alice, bob } from '../helpers/users.js';

const corpus = async () =>
  Promise.all(
    (await readdir(CORPUS_DIR))
      .filter((f) => f.endsWith('.yaml'))
      .sort()
      .map(async (file) => ({ file, text: await readFile(path.join(CORPUS_DIR, file), 'utf8') })),
  );

test('bad corpus dropped into the intake: each rejected with its reason for its owner; good jobs pushed meanwhile all run', async (t) => {
  const spool = await makeSpool(t, (dir) => corpusConfig(dir));
  await mkdir(path.join(spool.dir, 'out'));
  const files = await corpus();
  const a = alice();
  // Each file as alice's, straight into the intake, in push's envelope; bob pushes good jobs meanwhile.
  const dropping = Promise.all(
    files.map(async ({ file, text }, index) => {
      // Numbers push could have taken (within the files waiting and 64 of the floor), clear of
      // bob's lowest ones.
      const id = 10 + index;
      const target = path.join(spool.spoolDir, 'intake', `${id}.job`);
      const temp = path.join(spool.spoolDir, 'intake', `.${id}.tmp`);
      await writeFile(temp, JSON.stringify({ id, submitted_at: Date.now(), source: `/home/dopq-alice/${file}`, manifest: text }), {
        mode: 0o600,
      });
      await chown(temp, a.uid, a.gid);
      await rename(temp, target);
      // The daemon keeps no value the owner wrote in the world-readable state (`, got ...`).
      return { id, file, expected: withoutGivenValue(expectedReason(text)!) };
    }),
  );
  const good = Promise.all(
    [1, 2, 3, 4].map((n) => spool.push({ name: `good-${n}`, command: `echo good ${n} > /outdir/good-${n}`, gpus: n % 2 }, bob())),
  );
  const [dropped, goodIds] = await Promise.all([dropping, good]);
  // Started once all are in: the numbers a daemon takes as pushed are bounded by the files it
  // finds waiting, and a daemon listing the intake mid-drop would see only some.
  const daemon = spool.startDaemon();

  for (const id of goodIds) t.is((await spool.waitForJob(id, ['done', 'failed'])).state, 'done', `good job ${id}`);
  const view = await spool.waitFor('every bad file to be rejected', async () => {
    const q = await spool.q(a);
    return dropped.every(({ id }) => q.jobs.some((job) => job.id === id && job.state === 'rejected')) ? q : undefined;
  });
  for (const { id, file, expected } of dropped) {
    const job = view.jobs.find((j) => j.id === id)!;
    t.is(job.user, 'dopq-alice', file);
    t.true((job.message ?? '').includes(expected), `${file}: ${job.message}`);
    t.true((job.message ?? '').includes(file), `${file}: the message names the file`);
    t.false((job.message ?? '').includes('/home/dopq-alice'), `${file}: but not where alice keeps it (the state is world-readable)`);
  }
  t.true(dropped.length >= 40);
  // Refused files leave the intake for root's rejected/ folder; nothing else is touched.
  t.deepEqual(
    (await readdir(path.join(spool.spoolDir, 'intake'))).filter((f) => !f.startsWith('.')),
    [],
  );
  t.is((await readdir(path.join(spool.spoolDir, 'rejected'))).length, dropped.length);
  const outputs = await readdir(path.join(spool.dir, 'out', 'dopq-bob'));
  t.deepEqual(outputs.sort(), ['good-1', 'good-2', 'good-3', 'good-4']);
  t.is(daemon.child.exitCode, null, 'the daemon kept running');
  await daemon.stop();
});

test("push refuses every corpus file: exit 65 (77 for another user's image), naming the file, the field and the line", async (t) => {
  const spool = await makeSpool(t, (dir) => corpusConfig(dir));
  const files = await corpus();
  const a = alice();
  const pending = [...files];
  const worker = async () => {
    for (let next = pending.shift(); next; next = pending.shift()) {
      const copy = path.join(spool.dir, next.file);
      await writeFile(copy, next.text, { mode: 0o644 });
      const result = await spool.cli(['push', copy], { user: a });
      t.is(result.code, expectedExit(next.text), `${next.file}: ${result.stderr}`);
      t.true(result.stderr.includes(copy), `${next.file} names the file: ${result.stderr}`);
      t.true(result.stderr.includes(expectedReason(next.text)!), `${next.file}: ${result.stderr}`);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  t.deepEqual(await readdir(path.join(spool.spoolDir, 'intake')), [], 'nothing was queued');
});
