// Build contexts (issue 5, in progress): push packs the context as the user; the daemon claims
// a verified copy out of the user's reach, so the job builds the code as it was at push time.
import { execFileSync, execSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { IMAGE, makeSpool } from '../helpers/spool.js';
import { alice, bob, shellAs } from '../helpers/users.js';

async function aliceContext(dir: string, name: string): Promise<{ root: string; manifest: string }> {
  const a = alice();
  const root = path.join(dir, name);
  await mkdir(path.join(root, 'src'), { recursive: true });
  await writeFile(path.join(root, 'Dockerfile'), `FROM ${IMAGE}\nCOPY src /src\nCMD ["sh", "/src/run.sh"]\n`);
  await writeFile(path.join(root, 'src', 'run.sh'), 'echo version-1\n');
  await writeFile(path.join(root, '.dockerignore'), 'data\n');
  await mkdir(path.join(root, 'data'));
  await writeFile(path.join(root, 'data', 'big.bin'), Buffer.alloc(4096));
  const manifest = path.join(root, 'job.yaml');
  await writeFile(manifest, `name: ${name}\nbuild: {context: .}\ngpus: 0\n`);
  shellAsRoot(`chown -R ${a.uid}:${a.gid} ${root}`);
  return { root, manifest };
}

const shellAsRoot = (script: string) => execSync(script);

test('push packs the context as the user; the daemon keeps a verified copy that later edits do not change', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const a = alice();
  const { root, manifest } = await aliceContext(spool.dir, 'ctx-a');
  const pushed = await spool.cli(['push', '--json', manifest], { user: a });
  t.is(pushed.code, 0, pushed.stderr);
  const id = (JSON.parse(pushed.stdout) as { id: number }).id;
  const packed = path.join(spool.spoolDir, 'intake', `${id}.ctx`);
  const info = await stat(packed);
  t.is(info.uid, a.uid);
  t.is(info.mode & 0o777, 0o600);
  const sha = createHash('sha256')
    .update(await readFile(packed))
    .digest('hex');

  const envelope = JSON.parse(await readFile(path.join(spool.spoolDir, 'intake', `${id}.job`), 'utf8')) as {
    context: { sha256: string; bytes: number };
  };
  t.is(envelope.context.sha256, sha, 'the job file records what push packed; the daemon checks it');
  await writeFile(path.join(root, 'src', 'run.sh'), 'echo version-2\n'); // edited after push
  const listing = execFileSync('tar', ['tf', packed], { encoding: 'utf8' });
  t.regex(listing, /src\/run\.sh/);
  t.notRegex(listing, /data\/big\.bin/, '.dockerignore applies');
  const daemon = spool.startDaemon();
  const job = await spool.waitForJob(id, ['done', 'failed']);
  t.is(job.state, 'done', job.message ?? '');
  const log = (await spool.cli(['log', String(id)], { user: a })).stdout;
  t.regex(log, /version-1/, 'the job ran the code as it was at push time');
  t.notRegex(log, /version-2/);
  t.false(
    await stat(packed).then(
      () => true,
      () => false,
    ),
    "the user's packed file left the intake",
  );
  t.false(
    await stat(path.join(spool.spoolDir, 'builds', `${id}.tar`)).then(
      () => true,
      () => false,
    ),
    'the claimed copy goes once the image is built',
  );
  await daemon.stop();
  t.is((await spool.job(id))?.user, 'dopq-alice');
});

test("push refuses a context with a link, naming build.context; a job claiming another user's context is rejected", async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const [a, b] = [alice(), bob()];
  const { root, manifest } = await aliceContext(spool.dir, 'ctx-link');
  await symlink('/etc/passwd', path.join(root, 'src', 'pw'));
  const refused = await spool.cli(['push', manifest], { user: a });
  t.is(refused.code, 65);
  t.regex(refused.stderr, /build\.context: src\/pw: is a symbolic link/);
  t.deepEqual(
    (await readdir(path.join(spool.spoolDir, 'intake'))).filter((f) => !f.startsWith('.')),
    [],
  );

  // bob writes a job file that points at alice's packed context.
  shellAsRoot(`rm ${root}/src/pw`);
  const pushed = await spool.cli(['push', '--json', manifest], { user: a });
  const aliceId = (JSON.parse(pushed.stdout) as { id: number }).id;
  // bob cannot read alice's job file; the test reads it as root to forge the closest copy.
  t.not((await shellAs(b, `cat ${spool.spoolDir}/intake/${aliceId}.job`)).code, 0);
  const envelope = JSON.parse(await readFile(path.join(spool.spoolDir, 'intake', `${aliceId}.job`), 'utf8'));
  const forgedId = aliceId + 10; // a number push could take: within the files waiting and 64 of the floor
  await shellAs(
    b,
    `cd ${spool.spoolDir}/intake && printf '%s' '${JSON.stringify({ ...envelope, id: forgedId, context: { ...envelope.context } })}' > .f && mv .f ${forgedId}.job`,
  );
  await spool.cli(['run', '--once']);
  const forged = await spool.waitForJob(forgedId, ['rejected', 'queued', 'failed', 'done']);
  t.is(forged.state, 'rejected');
  t.is(forged.user, 'dopq-bob');
  t.regex(forged.message ?? '', /build context|no packed build context/);
});

test('squatted job numbers and context names cost a build push only a retry; the context is packed once', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const [a, b] = [alice(), bob()];
  const { manifest } = await aliceContext(spool.dir, 'ctx-squat');
  const intake = path.join(spool.spoolDir, 'intake');
  const seq = Number((await readFile(path.join(spool.spoolDir, 'seq', 'seq'), 'utf8').catch(() => '0')) || 0);
  await shellAs(b, `cd ${intake} && echo x > ${seq + 1}.ctx && echo x > ${seq + 2}.job`);
  const pushed = await spool.cli(['push', '--json', manifest], { user: a });
  t.is(pushed.code, 0, pushed.stderr);
  const id = (JSON.parse(pushed.stdout) as { id: number }).id;
  t.is(id, seq + 3, 'both squatted numbers skipped');
  const names = (await readdir(intake)).sort();
  t.deepEqual(names, [`${seq + 1}.ctx`, `${seq + 2}.job`, `${id}.ctx`, `${id}.job`].sort(), 'no temp or stray context left behind');
  t.is((await stat(path.join(intake, `${seq + 1}.ctx`))).uid, b.uid, "bob's file untouched");
});
