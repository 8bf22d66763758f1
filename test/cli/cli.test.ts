// The built CLI: exit codes, stdout for data, `dopq: <subject>: <reason>` on stderr.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { runCli } from '../helpers/cli.js';
import { IMAGE, makeSpool } from '../helpers/spool.js';
import { alice, bob } from '../helpers/users.js';

test('--help lists the commands and exits 0', async (t) => {
  const result = await runCli(['--help']);
  t.is(result.code, 0);
  for (const command of ['push', 'run', 'q', 'rm', 'log']) t.regex(result.stdout, new RegExp(`\\n  ${command}\\b`));
});

test('an unknown command is a usage error (64)', async (t) => {
  const result = await runCli(['psuh']);
  t.is(result.code, 64);
  t.regex(result.stderr, /unknown command 'psuh'.*\n.*push/s);
});

test('push of a bad manifest names the file, field and line, exits 65, queues nothing', async (t) => {
  const spool = await makeSpool(t);
  const file = path.join(spool.dir, 'bad.yaml');
  await writeFile(file, `name: train\nimage: ${IMAGE}\ngpus: two\nmemory: 32q\ncolour: blue\n`);
  const result = await spool.cli(['push', file]);
  t.is(result.code, 65);
  t.true(result.stderr.startsWith(`dopq: ${file}: `), result.stderr);
  t.regex(result.stderr, /line 3: gpus: expected a whole number of GPUs, got "two"/);
  t.regex(result.stderr, /line 4: memory: expected a size such as 512m or 32g/);
  t.regex(result.stderr, /line 5: colour: unknown field/);
  t.is(result.stdout, '');
  t.deepEqual((await spool.q()).jobs, []);
});

test('push prints the id (and {"id": N} with --json); ids increase', async (t) => {
  const spool = await makeSpool(t);
  const file = path.join(spool.dir, 'ok.yaml');
  await writeFile(file, `image: ${IMAGE}\ncommand: "true"\n`);
  const first = await spool.cli(['push', file]);
  t.is(first.code, 0, first.stderr);
  t.regex(first.stdout, /^\d+\n$/);
  const second = await spool.cli(['push', '--json', file]);
  t.deepEqual(JSON.parse(second.stdout), { id: Number(first.stdout) + 1 });
});

test('a missing config is a config error (78) with a hint', async (t) => {
  const result = await runCli(['--config', '/nonexistent/dopq.yaml', 'q']);
  t.is(result.code, 78);
  t.regex(result.stderr, /^dopq: \/nonexistent\/dopq.yaml: cannot read the config named by --config: no such file\nhint: /);
});

test('a bad config names field and line', async (t) => {
  const spool = await makeSpool(t);
  await writeFile(spool.configFile, 'spool: ./spool\ngpus: [0, 0]\ngpu_assignment: magic\n');
  const result = await spool.cli(['q']);
  t.is(result.code, 78);
  t.regex(result.stderr, /line 2: gpus: a GPU is listed twice|line 3: gpu_assignment: expected device-requests or env/);
});

test('q shows tables without colour when not a TTY; --json has the documented fields', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const id = await spool.push({ name: 'visible', command: 'true' }, alice());
  const tables = await spool.cli(['q'], { env: { FORCE_COLOR: '' } });
  t.is(tables.code, 0);
  t.notRegex(tables.stdout, /\u001b\[/, 'no escape codes');
  for (const heading of ['Daemon', 'GPUs', 'Running', 'Queued', 'Finished', 'Users'])
    t.regex(tables.stdout, new RegExp(`^${heading}`, 'm'));
  t.regex(tables.stdout, /dopq-alice/);
  const view = await spool.q(bob());
  const job = view.jobs.find((j) => j.id === id)!;
  for (const field of [
    'id',
    'name',
    'user',
    'state',
    'gpus',
    'gpus_requested',
    'penalty',
    'position',
    'submitted_at',
    'started_at',
    'finished_at',
    'exit_code',
    'reason',
  ]) {
    t.true(field in job, `job has ${field}`);
  }
  t.is(job.user, 'dopq-alice', 'owner from the file, as another user sees it');
  t.is(job.state, 'queued');
  t.is(job.position, 1);
  t.true(Array.isArray(view.gpus) && Array.isArray(view.users) && typeof view.daemon === 'object');
});

test('the daemon rejects a forged job file and keeps running the others', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const daemon = spool.startDaemon();
  await spool.waitFor('the daemon', async () => (await spool.q()).daemon.running);
  const good = await spool.push({ name: 'good', command: 'true' }, alice());
  // Dropped by hand, bypassing push: the daemon validates again and records a rejection.
  const forged = path.join(spool.spoolDir, 'intake', '30.job');
  await writeFile(
    forged,
    JSON.stringify({ id: 30, submitted_at: Date.now(), source: '/x/evil.yaml', manifest: 'image: x\nprivileged: true\n' }),
  );
  const rejected = await spool.waitForJob(30, ['rejected']);
  t.regex(rejected.message ?? '', /line 2: privileged: unknown field/);
  t.is((await spool.waitForJob(good, ['done'])).state, 'done');
  t.is(daemon.child.exitCode, null);
  await daemon.stop();
});

test('log of another user’s job is refused; the owner reads it', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const id = await spool.push({ name: 'secret', command: 'echo private-output' }, alice());
  await spool.cli(['run', '--once']);
  await spool.waitFor('the job to finish', async () => {
    await spool.cli(['run', '--once']);
    return (await spool.job(id))?.state === 'done';
  });
  const own = await spool.cli(['log', String(id)], { user: alice() });
  t.is(own.code, 0, own.stderr);
  t.regex(own.stdout, /private-output/);
  const other = await spool.cli(['log', String(id)], { user: bob() });
  t.is(other.code, 77);
  t.is(other.stdout, '');
});
