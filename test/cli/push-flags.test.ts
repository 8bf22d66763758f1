// `dopq push` without a file: flags and `--`, a manifest on standard input, flags over a file's
// fields, arrays in one intake file, and --after checked at push. Every bad input exits 64 or 65
// naming the flag, and leaves nothing in the intake.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { IMAGE, makeSpool, type TestSpool } from '../helpers/spool.js';
import { alice, bob } from '../helpers/users.js';

const intake = async (spool: TestSpool) =>
  (await readdir(path.join(spool.spoolDir, 'intake'))).filter((name) => !name.startsWith('.')).sort();
const manifestOf = async (spool: TestSpool, name: string) =>
  JSON.parse(await readFile(path.join(spool.spoolDir, 'intake', name), 'utf8')) as { manifest: string; id: number };

test('flags and -- make the whole manifest; the command is exec form; the name is the program', async (t) => {
  const spool = await makeSpool(t);
  const result = await spool.cli([
    'push',
    '--json',
    '--image',
    IMAGE,
    '--gpus',
    '2',
    '--env',
    'A=1',
    '--env',
    'B=x=y',
    '--time',
    '5m',
    '--',
    'echo',
    'a b',
    '--gpus',
  ]);
  t.is(result.code, 0, result.stderr);
  t.deepEqual(JSON.parse(result.stdout), { id: 1 });
  const job = await manifestOf(spool, '1.job');
  t.regex(job.manifest, /gpus: 2/);
  t.regex(job.manifest, /B: x=y/);
  t.regex(job.manifest, /- a b\n\s*- --gpus/);
  t.regex(job.manifest, /name: echo/);
});

test('bad flags: exit 64 or 65 naming the flag and the reason; nothing queued', async (t) => {
  const spool = await makeSpool(t);
  const cases: [string[], number, RegExp][] = [
    [['--image', IMAGE, '--env', 'NOEQUALS', '--', 'true'], 64, /--env: expected NAME=value, got "NOEQUALS"/],
    [['--image', IMAGE, '--env', 'A=1', '--env', 'A=2', '--', 'true'], 64, /--env: A given twice/],
    [['--image', IMAGE, '--gpus', '1', '--gpus', '2', '--', 'true'], 64, /--gpus: given twice/],
    [['--image', IMAGE, '--'], 64, /--: no command after it/],
    [['--gpus', '1'], 65, /image: is required/],
    [[], 64, /give a manifest FILE, - to read one/],
    [['--image', IMAGE, '--gpus', 'two', '--', 'true'], 65, /--gpus: expected a whole number of GPUs/],
    [['--image', IMAGE, '--env', 'DOPQ_JOB_ID=3', '--', 'true'], 65, /--env DOPQ_JOB_ID: is set by dopq/],
    [['--image', IMAGE, '--mount', '/etc:/etc', '--', 'true'], 65, /--mount: the source must be under/],
    [['--image', IMAGE, '--array', '0-5:x', '--', 'true'], 65, /--array: expected N, N-M or N-M:STEP/],
    [['--image', IMAGE, '--array', '0-19%0', '--', 'true'], 65, /--array: expected %N with N a whole number of at least 1/],
    [['--image', IMAGE, '--after', '99', '--', 'true'], 65, /--after: there is no job 99/],
    [['--image', IMAGE, '--after-any', 'x', '--', 'true'], 65, /--after-any: expected job ids/],
  ];
  for (const [args, code, message] of cases) {
    const result = await spool.cli(['push', ...args]);
    t.is(result.code, code, `${args.join(' ')}: ${result.stderr}`);
    t.regex(result.stderr, message, args.join(' '));
    t.is(result.stdout, '');
  }
  t.deepEqual(await intake(spool), []);
});

test('push - reads standard input; flags override its fields; its own mistakes keep their lines', async (t) => {
  const spool = await makeSpool(t);
  const bad = await spool.cli(['push', '-'], { input: `image: ${IMAGE}\ncommand: "true"\ngpus: 99\n` });
  t.is(bad.code, 65);
  t.regex(bad.stderr, /^dopq: stdin: line 3: gpus: at most/);
  const ok = await spool.cli(['push', '-', '--gpus', '0', '--name', 'from-stdin'], {
    input: `image: ${IMAGE}\ncommand: "true"\ngpus: 99\n`,
    user: alice(),
  });
  t.is(ok.code, 0, ok.stderr);
  const job = (await spool.q()).jobs.find((j) => j.id === Number(ok.stdout))!;
  // The owner is the file's, whoever pushed from where.
  t.is(job.user, alice().name);
  t.is(job.name, 'from-stdin');
});

test('flags override a file: a value from the file keeps its line, one from a flag is named by the flag', async (t) => {
  const spool = await makeSpool(t);
  const file = path.join(spool.dir, 'train.yaml');
  await writeFile(file, `image: ${IMAGE}\ncommand: "true"\nmemory: 1q\ngpus: 1\n`);
  const result = await spool.cli(['push', file, '--gpus', '99']);
  t.is(result.code, 65);
  t.regex(result.stderr, /line 3: memory: expected a size/);
  t.regex(result.stderr, /--gpus: at most/);
  await writeFile(file, `image: ${IMAGE}\ncommand: "true"\ngpus: 1\nenv: {A: "1"}\n`);
  const ok = await spool.cli(['push', file, '--gpus', '0', '--env', 'B=2', '--', 'sh', '-c', 'exit 0']);
  t.is(ok.code, 0, ok.stderr);
  const { manifest } = await manifestOf(spool, `${ok.stdout.trim()}.job`);
  t.regex(manifest, /gpus: 0/);
  t.regex(manifest, /A: "1"/);
  t.regex(manifest, /B: "2"/);
  t.regex(manifest, /- sh\n\s*- -c\n\s*- exit 0/);
});

test('an array is one intake file holding consecutive numbers; the next push goes after them', async (t) => {
  const spool = await makeSpool(t);
  const array = await spool.cli(['push', '--json', '--image', IMAGE, '--gpus', '0', '--array', '0-999%4', '--', 'true']);
  t.is(array.code, 0, array.stderr);
  t.deepEqual(JSON.parse(array.stdout), { id: 1, last_id: 1000 });
  const single = await spool.cli(['push', '--image', IMAGE, '--', 'true']);
  t.is(single.stdout, '1001\n');
  t.deepEqual(await intake(spool), ['1-1000.job', '1001.job']);
  // Not read yet: rm of the array's id withdraws its one file.
  const removed = await spool.cli(['rm', '1']);
  t.is(removed.code, 0, removed.stderr);
  t.deepEqual(await intake(spool), ['1001.job']);
});

test('the per-user queue cap counts an array task by task', async (t) => {
  const spool = await makeSpool(t, { limits: { per_user: { queued: 5 } } });
  const over = await spool.cli(['push', '--image', IMAGE, '--array', '0-5', '--', 'true']);
  t.is(over.code, 75);
  t.regex(over.stderr, /this array has 6; at most 5 per user/);
  t.is((await spool.cli(['push', '--image', IMAGE, '--array', '0-4', '--', 'true'])).code, 0);
  t.is((await spool.cli(['push', '--image', IMAGE, '--', 'true'])).code, 75);
});

test('--after: your own jobs only (77 for another user’s), an admin may name anyone’s', async (t) => {
  const spool = await makeSpool(t, { admins: [bob().name] });
  const mine = await spool.push({ command: 'true' }, alice());
  const foreign = await spool.cli(['push', '--image', IMAGE, '--after', String(mine), '--', 'true'], { user: bob() });
  t.is(foreign.code, 0, 'bob is an admin here');
  const plain = await makeSpool(t);
  const hers = await plain.push({ command: 'true' }, alice());
  const refused = await plain.cli(['push', '--image', IMAGE, '--after', String(hers), '--', 'true'], { user: bob() });
  t.is(refused.code, 77);
  t.regex(refused.stderr, new RegExp(`--after: job ${hers} is another user's`));
  const own = await plain.cli(['push', '--image', IMAGE, '--after', String(hers), '--', 'true'], { user: alice() });
  t.is(own.code, 0, own.stderr);
});
