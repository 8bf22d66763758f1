// `dopq init` on a new server: it says which config it read and every path it creates, folders
// above the spool included, with the mode each got; and it refuses a spool under /etc (a
// clone's config copied to /etc/dopq/ makes `spool: ../spool` mean /etc/spool), creating nothing.
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { runCli } from '../helpers/cli.js';

async function tempDir(t: { teardown(fn: () => Promise<void>): void }, parent = tmpdir()): Promise<string> {
  const dir = await mkdtemp(path.join(parent, 'dopq-init-'));
  await chmod(dir, 0o755);
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('init prints the config it read and each path it creates, with the mode that path has', async (t) => {
  const dir = await tempDir(t);
  const config = path.join(dir, 'dopq.yaml');
  await writeFile(config, 'spool: ./srv/dopq/spool\ngpus: [0]\ngpu_assignment: env\n', { mode: 0o644 });
  const spool = path.join(dir, 'srv', 'dopq', 'spool');

  const result = await runCli(['--config', config, 'init']);
  t.is(result.code, 0, result.stderr);
  const lines = result.stdout.trimEnd().split('\n');
  t.is(lines[0], `config ${config}: spool ${spool}`);
  t.is(lines.at(-1), `spool ${spool} is ready`);
  const created = lines.slice(1, -1).map((line) => /^created (\S+) \((\d{4})\)$/.exec(line));
  t.true(
    created.every((match) => match !== null),
    result.stdout,
  );
  const paths = created.map((match) => match![1]!);
  // Folders above the spool first, outermost first, then the spool and everything in it.
  t.deepEqual(paths.slice(0, 3), [path.join(dir, 'srv'), path.join(dir, 'srv', 'dopq'), spool]);
  for (const entry of ['intake', 'requests', 'seq', 'seq/seq', 'state', 'jobs', 'logs', 'rejected', 'builds', 'sessions'])
    t.true(paths.includes(path.join(spool, entry)), entry);
  for (const match of created) {
    const mode = (await stat(match![1]!)).mode & 0o7777;
    t.is(mode.toString(8).padStart(4, '0'), match![2]!, match![1]!);
  }

  const again = await runCli(['--config', config, 'init']);
  t.is(again.code, 0, again.stderr);
  t.is(again.stdout, `config ${config}: spool ${spool}\nspool ${spool} is ready (nothing to change)\n`);
});

test('init and run refuse a spool under /etc with exit 78, naming the config, the line of spool: and why; nothing is created', async (t) => {
  // The mistake as made: the clone's config copied into a folder of /etc.
  const etc = await tempDir(t, '/etc');
  const config = path.join(etc, 'dopq.yaml');
  await writeFile(config, '# copied from a clone\ngpus: [0]\nspool: ../spool\n', { mode: 0o644 });
  const existedBefore = existsSync('/etc/spool');

  const result = await runCli(['--config', config, 'init']);
  t.is(result.code, 78, result.stderr);
  t.is(result.stdout, '');
  t.regex(
    result.stderr,
    new RegExp(
      `^dopq: ${config.replaceAll('.', '\\.')}: line 3: spool: /etc/spool is under /etc, .*\\(\`\\.\\./spool\` is relative to the config's folder\\); use an absolute path such as /var/spool/dopq`,
    ),
  );
  t.is(existsSync('/etc/spool'), existedBefore);
  // The config itself is refused, so `run` (which would create a missing spool) never starts either.
  const run = await runCli(['--config', config, 'run', '--once']);
  t.is(run.code, 78, run.stderr);
  t.regex(run.stderr, /line 3: spool: \/etc\/spool is under \/etc/);
  t.is(existsSync('/etc/spool'), existedBefore);

  await writeFile(config, 'spool: /etc/dopq-queue\n', { mode: 0o644 });
  const absolute = await runCli(['--config', config, 'init']);
  t.is(absolute.code, 78, absolute.stderr);
  t.regex(absolute.stderr, /line 1: spool: \/etc\/dopq-queue is under \/etc/);
  t.false(existsSync('/etc/dopq-queue'));
});

test('a spool reached through a link into /etc is refused too, where it really is', async (t) => {
  const dir = await tempDir(t, tmpdir());
  await symlink('/etc', path.join(dir, 'etclink'));
  const config = path.join(dir, 'dopq.yaml');
  await writeFile(config, `gpus: [0]\nspool: ${dir}/etclink/dopq-linked\n`, { mode: 0o644 });
  const result = await runCli(['--config', config, 'init']);
  t.is(result.code, 78, result.stderr);
  t.regex(result.stderr, /line 2: spool: \/etc\/dopq-linked is under \/etc/);
  t.false(existsSync('/etc/dopq-linked'));
});
