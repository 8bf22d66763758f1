// How the built CLI fails: one form, `dopq: <subject>: <reason>` and a hint, for argument
// errors too; JSON errors on stdout with --json; hints that fit what was typed; and a reader
// that goes away (`| head`) ends the command quietly with 141, never a stack trace.
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { CLI, runCli, type CliResult } from '../helpers/cli.js';
import { makeSpool } from '../helpers/spool.js';
import { alice } from '../helpers/users.js';

const MISSING = '/nonexistent/dopq.yaml';

/** The CLI with its stdout a real pipe whose reader closes: at once, or after the first chunk (as `head` does). */
function runIntoClosedPipe(args: string[], closeAfterFirstChunk = false): Promise<CliResult & { read: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let stderr = '';
  let read = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  if (closeAfterFirstChunk)
    child.stdout.once('data', (chunk: Buffer) => {
      read = chunk.toString();
      child.stdout.destroy();
    });
  else child.stdout.destroy();
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: read, stderr, read }));
  });
}

test('output cut: --help, q, q --json and init end quietly with 141 when the reader has gone', async (t) => {
  const spool = await makeSpool(t);
  await spool.push({ name: 'one', command: 'true' }, alice());
  for (const args of [
    ['--help'],
    ['--config', spool.configFile, 'q'],
    ['--config', spool.configFile, 'q', '--json'],
    ['--config', spool.configFile, 'init'],
  ]) {
    const result = await runIntoClosedPipe(args);
    t.is(result.code, 141, `${args.join(' ')}: ${result.stderr}`);
    t.is(result.stderr, '', args.join(' '));
  }
});

test('output cut: log of a long job read by a reader that stops after its first chunk, and by head in a shell', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const id = await spool.push({ name: 'chatty', command: 'seq 1 300000' }, alice());
  await spool.waitFor('the job to finish', async () => {
    await spool.cli(['run', '--once']);
    return (await spool.job(id))?.state === 'done';
  });
  const cut = await runIntoClosedPipe(['--config', spool.configFile, 'log', String(id)], true);
  t.is(cut.code, 141, cut.stderr);
  t.is(cut.stderr, '');
  t.regex(cut.read, /^1\n2\n/);

  const shell = await new Promise<CliResult>((resolve) => {
    const child = spawn('bash', [
      '-c',
      `set -o pipefail; "${process.execPath}" "${CLI}" --config "${spool.configFile}" log ${id} | head -2`,
    ]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  t.is(shell.stdout, '1\n2\n');
  t.is(shell.stderr, '', 'no stack trace');
  t.is(shell.code, 141, 'as git and cat under pipefail');
});

test('argument errors take the one form: subject, reason, and a hint (did you mean, or the usage); exit 64', async (t) => {
  const cases: [string[], string][] = [
    [['push', '--jsn', 'x.yaml'], "dopq: push: unknown option '--jsn'\nhint: did you mean --json?\n"],
    [['psuh'], "dopq: unknown command 'psuh'\nhint: did you mean push?\n"],
    [['usage', 'rest'], "dopq: usage: unknown command 'rest'\nhint: did you mean reset?\n"],
    [
      ['push'],
      'dopq: push: give a manifest FILE, - to read one from standard input, or --image IMAGE -- COMMAND\nhint: usage: dopq push FILE | dopq push - | dopq push --image IMAGE [--gpus N] ... -- COMMAND [ARGS...]\n',
    ],
    [
      ['log', 'x1'],
      'dopq: log: <id>: not a job: "x1"; expected a job id (17), a task (17_3, 17_[1-3]), a range (17-25) or a list (17,19)\nhint: usage: dopq log [options] <id> (see dopq log --help)\n',
    ],
    [
      ['sim', '--policy', 'nope', 't.yaml'],
      'dopq: sim: --policy: expected one of fairshare, fifo, dopq-classic, got "nope"\nhint: usage: dopq sim [options] <trace> (see dopq sim --help)\n',
    ],
    [['--bogus', 'q'], "dopq: unknown option '--bogus'\nhint: usage: dopq [options] [command] (see dopq --help)\n"],
  ];
  for (const [args, stderr] of cases) {
    const result = await runCli(['--config', MISSING, ...args]);
    t.is(result.code, 64, args.join(' '));
    t.is(result.stderr, stderr);
    t.is(result.stdout, '');
  }
  const bare = await runCli([]);
  t.is(bare.code, 64, 'no command at all');
  t.regex(bare.stderr, /^Usage: dopq/);
});

test('--json errors: one JSON object on stdout (argument errors too), the usual lines on stderr', async (t) => {
  const spool = await makeSpool(t);
  const missing = await spool.cli(['push', '--json', '/nonexistent/job.yaml']);
  t.is(missing.code, 66);
  t.deepEqual(JSON.parse(missing.stdout), {
    error: {
      code: 'no-input',
      subject: '/nonexistent/job.yaml',
      message: 'cannot read the manifest: no such file',
      hint: 'check the path',
      exit_code: 66,
    },
  });
  t.is(missing.stderr, 'dopq: /nonexistent/job.yaml: cannot read the manifest: no such file\nhint: check the path\n');

  const file = path.join(spool.dir, 'bad.yaml');
  await writeFile(file, 'image: dopq-busybox:latest\ncpu: 2\ngpus: 9\n');
  const bad = JSON.parse((await spool.cli(['push', '--json', file])).stdout) as { error: { exit_code: number; issues: unknown[] } };
  t.is(bad.error.exit_code, 65);
  t.deepEqual(bad.error.issues, [
    { path: 'cpu', line: 2, message: 'unknown field; did you mean cpus?' },
    { path: 'gpus', line: 3, message: 'at most 8 GPUs per job on this server, got 9' },
  ]);

  const usage = await spool.cli(['q', '--json', '--al']);
  t.is(usage.code, 64);
  t.like(JSON.parse(usage.stdout), { error: { code: 'usage', subject: 'q', message: "unknown option '--al'", exit_code: 64 } });
  const sim = await spool.cli(['sim', '--json', '/nonexistent/trace.yaml']);
  t.like(JSON.parse(sim.stdout), { error: { subject: '/nonexistent/trace.yaml', exit_code: 66 } });
  t.is((await spool.cli(['q', '--al'])).stdout, '', 'without --json, nothing on stdout');
});

test('a config that is not there: the message names the rule that chose it, the hint fits that rule', async (t) => {
  const flag = await runCli(['--config', MISSING, 'q']);
  t.is(flag.code, 78);
  t.is(flag.stderr, `dopq: ${MISSING}: cannot read the config named by --config: no such file\nhint: check the path\n`);
  const env = await runCli(['q'], { env: { DOPQ_CONFIG: MISSING } });
  t.is(env.code, 78);
  t.is(
    env.stderr,
    `dopq: ${MISSING}: cannot read the config named by $DOPQ_CONFIG: no such file\nhint: check the path; or unset DOPQ_CONFIG to use /etc/dopq/dopq.yaml\n`,
  );
});

test('push and convert say a missing file the same way', async (t) => {
  const spool = await makeSpool(t);
  const push = await spool.cli(['push', 'nope.yaml'], { cwd: spool.dir });
  const convert = await spool.cli(['convert', 'nope.json'], { cwd: spool.dir });
  t.is(push.code, 66);
  t.is(convert.code, 66);
  t.is(push.stderr, `dopq: nope.yaml: cannot read the manifest: no such file\nhint: check the path (relative to ${spool.dir})\n`);
  t.is(convert.stderr, `dopq: nope.json: cannot read the DoPQ config: no such file\nhint: check the path (relative to ${spool.dir})\n`);
});

test('usage reset of a user nobody knows is an error (67); of a real user it is done', async (t) => {
  const spool = await makeSpool(t);
  const unknown = await spool.cli(['usage', 'reset', 'nosuchuser']);
  t.is(unknown.code, 67);
  t.is(unknown.stdout, '');
  t.regex(unknown.stderr, /^dopq: usage reset: no such user: nosuchuser\nhint: /);
  const known = await spool.cli(['usage', 'reset', alice().name]);
  t.is(known.code, 0, known.stderr);
  t.regex(known.stdout, /usage of dopq-alice reset/);
});

test('a folder the caller cannot read is a permission error naming it (77), not an internal error', async (t) => {
  const spool = await makeSpool(t);
  const closed = path.join(spool.dir, 'closed');
  await mkdir(closed, { mode: 0o700 });
  const result = await spool.cli(['push', '--json', closed], { user: alice() });
  t.is(result.code, 77, result.stderr);
  t.like(JSON.parse(result.stdout), { error: { code: 'permission', subject: closed, exit_code: 77 } });
  t.is(result.stderr, `dopq: ${closed}: permission denied\nhint: check the mode of the path and of its folders\n`);
});
