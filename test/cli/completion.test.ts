// `dopq completion bash|zsh`: the scripts, run in the real shells as a real user. Commands and
// options come from the program itself; job ids from the spool, the caller's own only.
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { buildProgram } from '../../src/cli/program.js';
import { encodeEnvelope } from '../../src/core/job/envelope.js';
import type { JobRecord } from '../../src/core/job/job.js';
import { POLICIES } from '../../src/core/schedule/policy.js';
import { createStateWriter, emptyState } from '../../src/io/spool/state-store.js';
import { CLI, runCli } from '../helpers/cli.js';
import { alice, bob, runAs, type UnixUser } from '../helpers/users.js';
import { makeTempSpool, type TempSpool } from '../io/temp-spool.js';

interface Setup {
  spool: TempSpool;
  /** A folder with `dopq` (the built CLI) and the two scripts, readable by the test users. */
  bin: string;
}

async function setup(t: ExecutionContext): Promise<Setup> {
  const spool = await makeTempSpool(t);
  const bin = await mkdtemp(path.join(tmpdir(), 'dopq-completion-'));
  t.teardown(() => rm(bin, { recursive: true, force: true }));
  await chmod(bin, 0o755);
  await writeFile(path.join(bin, 'dopq'), `#!/bin/sh\nexec ${process.execPath} ${CLI} "$@"\n`, { mode: 0o755 });
  for (const shell of ['bash', 'zsh']) {
    const printed = await runCli(['completion', shell]);
    t.is(printed.code, 0, printed.stderr);
    await writeFile(path.join(bin, `dopq.${shell}`), printed.stdout, { mode: 0o644 });
  }
  return { spool, bin };
}

/** The daemon's record of alice's and bob's jobs, and job files not read yet. */
async function someJobs(spool: TempSpool, a: UnixUser, b: UnixUser): Promise<void> {
  const record = (id: number, user: UnixUser, state: JobRecord['state'], held = false): JobRecord => ({
    id,
    user: user.name,
    uid: user.uid,
    name: `job-${id}`,
    image: 'busybox',
    gpus_requested: 1,
    gpus: [],
    state,
    submitted_at: Date.now(),
    time_limit: 600,
    ...(held ? { held_by: user.name } : {}),
  });
  const writer = createStateWriter(spool.paths.state, (error) => {
    throw error;
  });
  await writer.write({
    ...emptyState(),
    jobs: [record(1, a, 'done'), record(2, a, 'queued'), record(3, a, 'queued', true), record(4, b, 'queued'), record(5, b, 'running')],
  });
  // As push leaves them: mode 0600, owned by who pushed.
  for (const [id, user] of [
    [11, a],
    [12, b],
  ] as const) {
    const file = path.join(spool.paths.intake, `${id}.job`);
    await writeFile(file, encodeEnvelope({ id, submitted_at: Date.now(), source: '/x/job.yaml', manifest: 'image: busybox\n' }), {
      mode: 0o600,
    });
    await chown(file, user.uid, user.gid);
  }
}

function run(command: string, args: string[], user: UnixUser, env: NodeJS.ProcessEnv) {
  return runAs(user, command, args, { env: { USER: user.name, ...env } });
}

const shellWord = (word: string) => `'${word.replaceAll("'", "'\\''")}'`;

/** What bash completes for `words` (the last is the word under the cursor), as `user`. */
async function bashComplete(setup: Setup, user: UnixUser, words: string[], env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const script = [
    `source ${setup.bin}/dopq.bash`,
    `COMP_WORDS=(${words.map(shellWord).join(' ')})`,
    `COMP_CWORD=${words.length - 1}`,
    '_dopq',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  const result = await run('bash', ['--norc', '-c', script], user, { PATH: `${setup.bin}:/usr/bin:/bin`, ...env });
  if (result.code !== 0 || result.stderr !== '') throw new Error(`bash: ${result.code}: ${result.stderr}`);
  return result.stdout
    .split('\n')
    .filter((line) => line !== '')
    .sort();
}

/** Names of the visible commands starting with `prefix`, aliases included, from the program itself. */
function commandsStartingWith(prefix: string): string[] {
  const program = buildProgram({ out: () => undefined, err: () => undefined, isTTY: false }, {}, () => undefined);
  const names = program
    .createHelp()
    .visibleCommands(program)
    .flatMap((command) => [command.name(), ...command.aliases()]);
  return names.filter((name) => name.startsWith(prefix)).sort();
}

test('bash: commands, options and option values come from the program', async (t) => {
  const env = await setup(t);
  const user = alice();
  t.deepEqual(await bashComplete(env, user, ['dopq', 'r']), commandsStartingWith('r'));
  t.true((await bashComplete(env, user, ['dopq', 'r'])).includes('rm'));
  t.deepEqual(await bashComplete(env, user, ['dopq', 'que']), ['queue']);
  t.deepEqual(await bashComplete(env, user, ['dopq', 'q', '--']), [
    '--all',
    '--config',
    '--debug',
    '--expand',
    '--format',
    '--help',
    '--json',
    '--me',
    '--name',
    '--quiet',
    '--state',
    '--user',
    '--watch',
    '--wide',
  ]);
  t.deepEqual(await bashComplete(env, user, ['dopq', 'q', '--state', 'r']), ['rejected', 'running']);
  t.deepEqual(await bashComplete(env, user, ['dopq', 'q', '--format', 'time_']), ['time_left', 'time_limit']);
  t.deepEqual(await bashComplete(env, user, ['dopq', 'q', '-u', 'dopq-al']), ['dopq-alice']);
  t.deepEqual(await bashComplete(env, user, ['dopq', 'sim', '--policy', '']), [...POLICIES].sort());
  t.deepEqual(await bashComplete(env, user, ['dopq', 'usage', '']), ['help', 'reset']);
  t.deepEqual(await bashComplete(env, user, ['dopq', '--config', '/x.yaml', 'completion', '']), ['bash', 'zsh']);
  t.deepEqual(await bashComplete(env, user, ['dopq', 'help', 'pu']), ['push']);
  // Files where a file goes, after options that take a value.
  t.deepEqual(await bashComplete(env, user, ['dopq', 'push', path.join(env.bin, 'dopq.b')]), [path.join(env.bin, 'dopq.bash')]);
  t.deepEqual(await bashComplete(env, user, ['dopq', '-c', path.join(env.bin, 'dopq.z')]), [path.join(env.bin, 'dopq.zsh')]);
  // The hidden command is never offered.
  t.deepEqual(await bashComplete(env, user, ['dopq', '__']), []);
});

test("bash: `dopq rm <TAB>` offers the caller's own jobs it can take, from --config or $DOPQ_CONFIG", async (t) => {
  const env = await setup(t);
  const [a, b] = [alice(), bob()];
  await someJobs(env.spool, a, b);
  const config = { DOPQ_CONFIG: env.spool.configFile };
  t.deepEqual(await bashComplete(env, a, ['dopq', 'rm', ''], config), ['11', '2', '3']);
  t.deepEqual(await bashComplete(env, a, ['dopq', 'rm', '1'], config), ['11']);
  t.deepEqual(await bashComplete(env, b, ['dopq', 'rm', ''], config), ['12', '4', '5']);
  t.deepEqual(await bashComplete(env, a, ['dopq', 'rm', '2', ''], config), ['11', '2', '3']);
  t.deepEqual(await bashComplete(env, a, ['dopq', 'log', ''], config), ['1', '11', '2', '3']);
  t.deepEqual(await bashComplete(env, a, ['dopq', 'log', '2', '']), []);
  t.deepEqual(await bashComplete(env, a, ['dopq', 'release', ''], config), ['3']);
  t.deepEqual(await bashComplete(env, a, ['dopq', 'hold', ''], config), ['11', '2']);
  t.deepEqual(await bashComplete(env, a, ['dopq', 'wait', ''], config), ['11', '2', '3']);
  // The config on the command line, with or without =, wins over the environment's.
  t.deepEqual(await bashComplete(env, a, ['dopq', '--config', env.spool.configFile, 'top', '']), ['11', '2', '3']);
  t.deepEqual(await bashComplete(env, a, ['dopq', '--config', '=', env.spool.configFile, 'top', '']), ['11', '2', '3']);
  t.deepEqual(await bashComplete(env, a, ['dopq', '-c', '/nonexistent.yaml', 'rm', ''], config), []);
});

/** Runs the zsh script's _dopq outside the line editor, with the completion builtins replaced by printers. */
async function zshComplete(setup: Setup, user: UnixUser, words: string[], env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const script = [
    'compdef() { : }',
    `source ${setup.bin}/dopq.zsh`,
    '_describe() { print -rl -- "${(@P)${@[-1]}}" }',
    'compadd() { [[ $1 == -a ]] && print -rl -- "${(@P)2}" }',
    '_wanted() { shift 3; "$@" }',
    '_files() { print -r -- "<files>" }',
    '_users() { print -r -- "<users>" }',
    'compset() { : }',
    `words=(${words.map(shellWord).join(' ')})`,
    `CURRENT=${words.length}`,
    `PREFIX=${shellWord(words.at(-1) ?? '')}`,
    '_dopq',
  ].join('\n');
  const result = await run('zsh', ['-f', '-c', script], user, { PATH: `${setup.bin}:/usr/bin:/bin`, ...env });
  if (result.code !== 0 || result.stderr !== '') throw new Error(`zsh: ${result.code}: ${result.stderr}`);
  return result.stdout.split('\n').filter((line) => line !== '');
}

test('zsh: the script parses (zsh -n), and completes commands with descriptions, options and own job ids', async (t) => {
  const env = await setup(t);
  const a = alice();
  const parsed = await run('zsh', ['-n', path.join(env.bin, 'dopq.zsh')], a, { PATH: '/usr/bin:/bin' });
  t.is(parsed.code, 0, parsed.stderr);
  t.is(parsed.stderr, '');

  const commands = await zshComplete(env, a, ['dopq', '']);
  t.true(
    commands.some((line) => line.startsWith('rm:cancel jobs')),
    commands.join('\n'),
  );
  t.true(commands.some((line) => line.startsWith('queue:')));
  t.false(commands.some((line) => line.startsWith('__')));
  t.true((await zshComplete(env, a, ['dopq', 'log', '-'])).some((line) => line.startsWith('--follow:')));
  t.deepEqual(await zshComplete(env, a, ['dopq', 'push', '']), ['<files>']);
  t.deepEqual(await zshComplete(env, a, ['dopq', 'usage', 'reset', '']), ['<users>']);

  await someJobs(env.spool, a, bob());
  t.deepEqual(await zshComplete(env, a, ['dopq', 'rm', ''], { DOPQ_CONFIG: env.spool.configFile }), ['2', '3', '11']);
  t.deepEqual(await zshComplete(env, a, ['dopq', '-c', env.spool.configFile, 'release', '']), ['3']);
});
