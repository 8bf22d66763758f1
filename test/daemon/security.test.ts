// Attacks by one real Unix user on another's jobs and on the root daemon, through the spool.
import { chmod, chown, lstat, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import test from 'ava';
import { IMAGE, makeSpool } from '../helpers/spool.js';
import { alice, bob, ensureGroup, shellAs } from '../helpers/users.js';

const envelope = (id: number, manifest: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id, submitted_at: Date.now(), source: '/x/forged.yaml', manifest, ...extra });

test('forged ownership: symlinks, hard links, FIFOs, oversize files and names written inside are refused, blamed on whoever dropped them', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const [a, b] = [alice(), bob()];
  const intake = path.join(spool.spoolDir, 'intake');
  // alice's private manifest in her home, with a secret in it.
  const secret = path.join(a.home, 'secret.yaml');
  await writeFile(secret, envelope(31, `image: ${IMAGE}\nenv: {TOKEN: alice-secret-token}\n`), { mode: 0o600 });
  await chmod(a.home, 0o711);
  await chown(secret, a.uid, a.gid);

  // bob: a symlink to alice's file, a symlink to /etc/shadow, a FIFO, a hard link of his own
  // file, an oversize file, and a job file that says it is alice's.
  const dropped = await shellAs(
    b,
    `set -e; cd ${intake}
     ln -s ${secret} 31.job
     ln -s /etc/shadow 32.job
     mkfifo 33.job
     printf '%s' '${envelope(34, `image: ${IMAGE}\ncommand: "true"\n`)}' > .own && ln .own 34.job
     head -c 2000000 /dev/zero > 35.job
     printf '%s' '${envelope(36, `image: ${IMAGE}\ncommand: "true"\n`, { user: 'dopq-alice', uid: a.uid })}' > 36.job`,
  );
  t.is(dropped.code, 0, dropped.stderr);
  // The kernel already refuses a hard link to alice's file (fs.protected_hardlinks); if it ever
  // allowed one, the daemon would refuse it for its link count.
  const foreignLink = await shellAs(b, `ln ${secret} ${intake}/37.job`);
  // Users cannot make device nodes; root can, and the daemon must never open one (some act on open).
  execFileSync('mknod', [path.join(intake, '38.job'), 'c', '1', '5']);
  const daemon = spool.startDaemon();
  const good = await spool.push({ name: 'good', command: 'true' }, a);

  const expectRejected = async (id: number, reason: RegExp) => {
    const job = await spool.waitForJob(id, ['rejected', 'queued', 'running', 'done', 'failed']);
    t.is(job.state, 'rejected', `${id}: ${job.message}`);
    t.is(job.user, 'dopq-bob', `${id} is blamed on bob`);
    t.regex(job.message ?? '', reason);
    t.notRegex(job.message ?? '', /alice-secret-token|root:/, 'nothing of the target leaks');
  };
  const rejectedIds = async (user: string) => (await spool.q()).jobs.filter((j) => j.state === 'rejected' && j.user === user);
  await spool.waitFor('all five refusals', async () => (await rejectedIds('dopq-bob')).length >= 5);
  const bobs = await rejectedIds('dopq-bob');
  const byName = (name: string) => bobs.find((j) => (j.message ?? '').startsWith(name));
  t.regex(byName('31.job')?.message ?? '', /symbolic link/);
  t.regex(byName('32.job')?.message ?? '', /symbolic link/);
  t.regex(byName('33.job')?.message ?? '', /not a regular file/);
  t.regex(byName('34.job')?.message ?? '', /2 hard links/);
  t.regex(byName('35.job')?.message ?? '', /bytes; the limit is/);
  const device = (await spool.q()).jobs.find((j) => (j.message ?? '').startsWith('38.job'));
  t.is(device?.user, 'root');
  t.regex(device?.message ?? '', /not a regular file \(a FIFO, device or folder\)/);
  for (const job of bobs) t.notRegex(job.message ?? '', /alice-secret-token|root:/);
  // The job that names alice inside is bob's: the owner comes from the file, never its content.
  const claimed = await spool.waitForJob(36, ['done', 'failed']);
  t.is(claimed.user, 'dopq-bob');
  t.is(claimed.state, 'done');
  if (foreignLink.code === 0) await expectRejected(37, /hard links/);
  else t.regex(foreignLink.stderr, /Operation not permitted/);
  t.is((await spool.waitForJob(good, ['done'])).user, 'dopq-alice');
  // alice's file is untouched; the refused files left the intake.
  t.regex(await readFile(secret, 'utf8'), /alice-secret-token/);
  t.deepEqual((await readdir(intake)).filter((f) => !f.startsWith('.')), []);
  t.is(daemon.child.exitCode, null);
  await daemon.stop();
});

test('rename race: a file swapped with a link to another user\'s file while the daemon reads never becomes theirs', async (t) => {
  const spool = await makeSpool(t, { gpus: [0], rescan_interval: '0.1s' });
  const [a, b] = [alice(), bob()];
  const intake = path.join(spool.spoolDir, 'intake');
  const secret = path.join(a.home, 'race-secret.yaml');
  await writeFile(secret, envelope(900, `image: ${IMAGE}\nenv: {TOKEN: alice-race-token}\n`), { mode: 0o600 });
  await chown(secret, a.uid, a.gid);
  const own = path.join(spool.dir, 'bob-own.job');
  await writeFile(own, envelope(900, `image: ${IMAGE}\ncommand: "true"\n`), { mode: 0o644 });
  const daemon = spool.startDaemon();
  await spool.waitFor('the daemon', async () => (await spool.q()).daemon.running);
  // bob publishes his own file under a name and at once swaps it for a link to alice's, as
  // fast as the shell goes, each time under the next number, until the daemon has read some of
  // them: a count of what it took in, not a length of time, so a slow machine races as often.
  const stop = path.join(spool.dir, 'race-stop');
  const racing = shellAs(
    b,
    `cd ${intake}; i=1
     while [ ! -e ${stop} ]; do
       cp ${own} .a && mv -f .a $i.job
       ln -sf ${secret} .l && mv -f .l $i.job
       i=$((i + 1))
     done; rm -f .a .l; echo done`,
  );
  await spool.waitFor('the daemon to read three flips', async () => (await spool.q()).jobs.length >= 3, 240_000).finally(() => writeFile(stop, ''));
  const race = await racing;
  t.regex(race.stdout, /done/, race.stderr);
  await spool.waitFor('the intake to drain', async () => (await readdir(intake)).filter((f) => !f.startsWith('.')).length === 0, 240_000);
  const jobs = (await spool.q()).jobs;
  const reasons = new Map<string, number>();
  for (const job of jobs) {
    const reason = job.state === 'rejected' ? (job.message ?? '').replace(/^\S+ /, '') : job.state;
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }
  t.log(`${jobs.length} jobs from the race:`, Object.fromEntries(reasons));
  t.true(jobs.length > 0, 'the daemon read some of the flips');
  for (const job of jobs) {
    t.is(job.user, 'dopq-bob', `job ${job.id} (${job.state}: ${job.message})`);
    t.notRegex(job.message ?? '', /alice-race-token/);
  }
  await daemon.stop();
});

test('privacy: another user sees the job in q but not its env, cannot read its files or log, and cannot rm, hold or top it', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const [a, b] = [alice(), bob()];
  const gate = spool.gate('privacy');
  const id = await spool.push({ name: 'private', command: `echo output-$TOKEN; ${gate.wait}`, env: { TOKEN: 'hunter2' }, mounts: gate.mounts }, a);
  // Before the daemon reads it: alice's intake file is hers alone.
  const intakeFile = path.join(spool.spoolDir, 'intake', `${id}.job`);
  t.is((await stat(intakeFile)).mode & 0o777, 0o600);
  const peek = await shellAs(b, `cat ${intakeFile}`);
  t.not(peek.code, 0);
  t.regex(peek.stderr, /Permission denied/);

  const daemon = spool.startDaemon();
  await spool.waitForJob(id, ['running']);
  const logFile = path.join(spool.spoolDir, 'logs', `${id}.log`);
  await spool.waitFor('output', async () => /output-hunter2/.test(await readFile(logFile, 'utf8').catch(() => '')));
  const info = await stat(logFile);
  t.is(info.uid, a.uid);
  t.is(info.mode & 0o777, 0o600);
  for (const file of [logFile, path.join(spool.spoolDir, 'jobs', `${id}.json`)]) {
    const read = await shellAs(b, `cat ${file}`);
    t.not(read.code, 0, file);
    t.notRegex(read.stdout, /hunter2/);
  }
  const log = await spool.cli(['log', String(id)], { user: b });
  t.is(log.code, 77);
  t.regex(log.stderr, /only its owner or root/);
  t.notRegex(log.stdout + log.stderr, /hunter2/);

  const seen = await spool.cli(['q', '--json', '--all'], { user: b });
  t.is(seen.code, 0);
  t.true(JSON.parse(seen.stdout).jobs.some((j: { id: number }) => j.id === id), 'bob sees the job, like lpq');
  t.notRegex(seen.stdout, /hunter2/);
  t.notRegex((await spool.cli(['q'], { user: b })).stdout, /hunter2/);
  t.notRegex(await readFile(path.join(spool.spoolDir, 'state', 'state.json'), 'utf8'), /hunter2/, 'the world-readable state has no env');

  t.is((await spool.cli(['rm', String(id)], { user: b })).code, 77);
  for (const op of ['hold', 'top']) t.is((await spool.cli([op, String(id)], { user: b })).code, 77, op);
  // A hand-written request skips the CLI's check; the daemon checks the file's owner again.
  const requests = path.join(spool.spoolDir, 'requests');
  await shellAs(b, `cd ${requests} && printf '%s' '{"op":"rm","ids":[${id}],"at":${Date.now()}}' > .forged && mv .forged 000000000000001-x.req`);
  await spool.waitFor('the forged request to be consumed', async () => (await readdir(path.join(spool.spoolDir, 'requests'))).length === 0);
  t.is((await spool.job(id))?.state, 'running');
  await spool.waitFor('the refusal in the daemon log', async () => /refused rm by dopq-bob: not the owner/.test(daemon.output()));

  const own = await spool.cli(['log', String(id)], { user: a });
  t.regex(own.stdout, /output-hunter2/);
  await gate.open();
  t.is((await spool.waitForJob(id, ['done'])).state, 'done');
  await daemon.stop();
});

test('containers run as their owner with only the configured groups they belong to, and write to their own output folder', async (t) => {
  const [a, b] = [alice(), bob()];
  const dataGid = ensureGroup('dopq-data', [a]);
  const otherGid = ensureGroup('dopq-other', [a]); // alice is in it, but the config does not name it
  const spool = await makeSpool(t, (dir) => ({ container_groups: ['dopq-data'], mounts: { allowed_roots: [dir], output: { host: `${dir}/out/{user}`, container: '/outdir' } } }));
  await mkdir(path.join(spool.dir, 'out'));
  const daemon = spool.startDaemon();
  const ida = await spool.push({ name: 'ids', command: 'id > /outdir/id.txt; touch /outdir/made' }, a);
  t.is((await spool.waitForJob(ida, ['done', 'failed'])).state, 'done');
  const outA = path.join(spool.dir, 'out', 'dopq-alice');
  t.is((await stat(path.join(outA, 'made'))).uid, a.uid, 'files the job writes belong to its owner');
  const ids = await readFile(path.join(outA, 'id.txt'), 'utf8');
  t.regex(ids, new RegExp(`uid=${a.uid}\\b`));
  t.regex(ids, new RegExp(`groups=.*\\b${dataGid}\\b`));
  t.notRegex(ids, new RegExp(`\\b${otherGid}\\b`));
  t.notRegex(ids, /uid=0\b|gid=0\b/);

  // A link where bob's folder would be (planted through a writable parent, or an admin's slip)
  // would hand him alice's folder: the daemon refuses to follow it.
  await symlink(outA, path.join(spool.dir, 'out', 'dopq-bob'));
  const idb = await spool.push({ name: 'steal', command: 'ls /outdir' }, b);
  const failed = await spool.waitForJob(idb, ['done', 'failed']);
  t.is(failed.state, 'failed');
  t.regex(failed.message ?? '', /output folder .*dopq-bob is not a plain folder/);
  await daemon.stop();
});

test('mounts: a symlink out of the allowed roots and the Docker socket under an allowed root are refused at start', async (t) => {
  const spool = await makeSpool(t, (dir) => ({ mounts: { allowed_roots: [dir, '/run'] } }));
  const a = alice();
  await symlink('/etc', path.join(spool.shared, 'etc-link'));
  const daemon = spool.startDaemon();
  const escape = await spool.push({ command: 'cat /x/shadow', mounts: [`${spool.shared}/etc-link:/x:ro`] }, a);
  // As root: push already refuses alice a socket she cannot read; the daemon must refuse even root's.
  const sock = await spool.push({ command: 'true', mounts: ['/run/docker.sock:/var/run/docker.sock'] });
  const above = await spool.push({ command: 'true', mounts: ['/run:/hostrun'] });
  const e = await spool.waitForJob(escape, ['failed', 'done']);
  t.is(e.state, 'failed');
  t.regex(e.message ?? '', /resolves to \/etc, outside the allowed roots/);
  for (const id of [sock, above]) {
    const job = await spool.waitForJob(id, ['failed', 'done']);
    t.is(job.state, 'failed');
    t.regex(job.message ?? '', /the Docker socket .*never mounted/);
  }
  await daemon.stop();
});

test('a user who squats job numbers holds only those: the floor is out of reach, far numbers are dropped unread, nobody waits on a lock', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const [a, b] = [alice(), bob()];
  const intake = path.join(spool.spoolDir, 'intake');
  const seqFile = path.join(spool.spoolDir, 'seq', 'seq');
  // The issue's attacks on the old shared counter: poison it, hold its lock. Both refused now.
  const poison = await shellAs(b, `echo 9007199254740991 > ${seqFile}; mkdir ${seqFile}.lock`);
  t.regex(poison.stderr, /Permission denied[\s\S]*Permission denied/, "seq/ and seq/seq are root's");
  await shellAs(b, `cd ${intake}; for i in 1 2 3 4 5; do echo junk > $i.job; done; echo junk > 2147483000.job; echo junk > 900.ctx`);
  const id = await spool.push({ name: 'mine', command: 'true' }, a);
  t.is(id, 6, "alice got the lowest number bob's files do not hold");

  const daemon = spool.startDaemon();
  t.is((await spool.waitForJob(id, ['done'])).user, 'dopq-alice');
  const later = await spool.push({ name: 'after', command: 'true' }, a);
  t.is(later, 7, 'the far number moved nothing: the next push follows on');
  t.is((await spool.waitForJob(later, ['done'])).user, 'dopq-alice');
  // bob's squatted files are his own rejected jobs under the numbers he took, blamed on him.
  const junk = (await spool.q()).jobs.filter((j) => j.state === 'rejected');
  t.deepEqual(junk.map((job) => job.id).sort((x, y) => x - y), [1, 2, 3, 4, 5]);
  for (const job of junk) {
    t.is(job.user, 'dopq-bob');
    t.regex(job.message ?? '', /^\d+\.job: not a dopq job file/);
  }
  await spool.waitFor('the far file to go', async () => !(await readdir(intake)).includes('2147483000.job'));
  t.regex(daemon.output(), /dropped 2147483000\.job of dopq-bob unread: job number 2147483000 is far past the last one taken/);
  t.is(await readFile(seqFile, 'utf8'), '7\n', 'the floor is the highest number taken in');
  await daemon.stop();
});

test("a job number taken before is never taken again, even once its job has left the state", async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const [a, b] = [alice(), bob()];
  const daemon = spool.startDaemon();
  const first = await spool.push({ name: 'alice-first', command: 'echo alice' }, a);
  await spool.waitForJob(first, ['done']);
  t.is((await spool.cli(['history', 'clear'])).code, 0);
  await spool.waitFor('the record to leave the state', async () => (await spool.job(first)) === undefined);
  // bob writes a job file under alice's old number, as push would have written it.
  const intake = path.join(spool.spoolDir, 'intake');
  await shellAs(b, `cd ${intake} && printf '%s' '${envelope(first, `image: ${IMAGE}\ncommand: "echo bob"\n`)}' > .t && mv .t ${first}.job`);
  await spool.waitFor('the file to go', async () => !(await readdir(intake)).includes(`${first}.job`));
  t.regex(daemon.output(), new RegExp(`dropped ${first}\\.job of dopq-bob unread: job number ${first} was taken before, by a job that has left the state`));
  t.is(await spool.job(first), undefined, 'no job under the old number');
  const next = await spool.push({ name: 'alice-next', command: 'echo next' }, a);
  t.true(next > first, `alice's next job takes a new number (${next})`);
  await daemon.stop();
});
