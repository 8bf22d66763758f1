// dopq as npm installs it: pack a clean copy of the sources (prepack builds dist/), install the
// tarball with `npm install -g --prefix` into a temp prefix, and run what was installed: its
// version, help, man pages, the systemd unit (systemd-analyze verify) and the cron line.
import { execFile } from 'node:child_process';
import { cp, lstat, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { CLI, runCli } from '../helpers/cli.js';

/** The checkout: scripts/test.sh names it when the suite runs from a copy without the sources. */
const CHECKOUT = process.env['DOPQ_CHECKOUT'] ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function sh(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd: options.cwd ?? '/', env: { ...process.env, ...options.env }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

interface Installed {
  work: string;
  prefix: string;
  dopq: string;
  tarball: string;
  entries: string[];
  version: string;
}

// Packed and installed once for the tests below (it takes a build and an install).
let installing: Promise<Installed> | undefined;
const installed = () => (installing ??= packAndInstall());

async function packAndInstall(): Promise<Installed> {
  const work = await mkdtemp(path.join(tmpdir(), 'dopq-package-'));
  // A clean clone: the tracked sources, without dist/, node_modules/ or a spool's contents. The
  // dependencies the build needs (tsc) are the checkout's, linked.
  const clone = path.join(work, 'clone');
  const skip = new Set(['.git', 'node_modules', 'dist', 'spool', 'coverage']);
  await cp(CHECKOUT, clone, {
    recursive: true,
    filter: (source) => {
      const relative = path.relative(CHECKOUT, source);
      const top = relative.split(path.sep)[0] ?? '';
      return !skip.has(top) && !top.endsWith('.tgz');
    },
  });
  await symlink(path.join(CHECKOUT, 'node_modules'), path.join(clone, 'node_modules'));
  const packed = await sh('npm', ['pack', '--pack-destination', work], { cwd: clone });
  if (packed.code !== 0) throw new Error(`npm pack: ${packed.stderr}`);
  const tarball = path.join(work, packed.stdout.trim().split('\n').at(-1)!);
  const listed = await sh('tar', ['-tzf', tarball]);
  const prefix = path.join(work, 'prefix');
  // --prefer-offline: the dependencies' tarballs come from npm's cache (filled by `npm ci`), what
  // it lacks (version lists, which npm ci never fetches) from the registry.
  // --ignore-scripts: skips the native builds of ssh2's optional parts (dopq has no scripts).
  const install = await sh(
    'npm',
    ['install', '-g', '--prefix', prefix, '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', tarball],
    {
      cwd: work,
    },
  );
  if (install.code !== 0) throw new Error(`npm install -g: ${install.stderr}`);
  const version = (JSON.parse(await readFile(path.join(CHECKOUT, 'package.json'), 'utf8')) as { version: string }).version;
  return { work, prefix, dopq: path.join(prefix, 'bin', 'dopq'), tarball, entries: listed.stdout.split('\n').filter(Boolean), version };
}

test.after.always(async () => {
  if (installing) await rm((await installing.catch(() => undefined))?.work ?? '/nonexistent', { recursive: true, force: true });
});

test('the built CLI says the version in package.json', async (t) => {
  const version = (JSON.parse(await readFile(path.join(CHECKOUT, 'package.json'), 'utf8')) as { version: string }).version;
  const result = await runCli(['--version']);
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout, `${version}\n`);
  t.true(CLI.endsWith(path.join('dist', 'src', 'dopq.cjs')));
});

test('npm pack of a clean copy holds the built CLI, man pages, configs, unit and cron line, and no tests', async (t) => {
  const { entries } = await installed();
  for (const needed of [
    'package/package.json',
    'package/README.md',
    'package/dist/src/cli.js',
    'package/dist/src/dopq.cjs',
    'package/dist/src/bundle/dopq.cjs',
    'package/dist/src/bundle/dopq.cjs.cache',
    'package/dist/src/cli/program.js',
    'package/man/dopq.1',
    'package/man/dopq-sim.1',
    'package/man/dopq-manifest.5',
    'package/man/dopq.yaml.5',
    'package/etc/dopq.yaml',
    'package/etc/dopq.server.yaml',
    'package/etc/systemd/dopq.service',
    'package/etc/cron.d/dopq',
    'package/examples/hello.yaml',
  ])
    t.true(entries.includes(needed), needed);
  const unwanted = entries.filter(
    (entry) =>
      /^package\/(dist\/test|dist\/bench|test|bench|src|scripts|\.ci|spool|node_modules)\//.test(entry) ||
      entry.endsWith('.map') ||
      entry.endsWith('.ts'),
  );
  t.deepEqual(unwanted, []);
});

test('npm install -g of the tarball gives a dopq that runs, says its version and finds its man pages', async (t) => {
  const { dopq, prefix, version } = await installed();
  const printed = await sh(dopq, ['--version']);
  t.is(printed.code, 0, printed.stderr);
  t.is(printed.stdout, `${version}\n`);
  const help = await sh(dopq, ['--help']);
  t.is(help.code, 0, help.stderr);
  t.regex(help.stdout, /^Usage: dopq \[options\] \[command\]/);
  t.regex(help.stdout, /\n {2}push \[options\] \[file\]/);
  t.regex(help.stdout, /\n {2}completion <shell>/);
  // It runs a command end to end from where npm put it: the bundled demo config is there too.
  const sim = await sh(dopq, ['sim', path.join(CHECKOUT, 'test', 'traces', 'flood.yaml'), '--json'], { env: { DOPQ_CONFIG: '' } });
  t.is(sim.code, 0, sim.stderr);
  t.truthy((JSON.parse(sim.stdout) as { summary?: unknown }).summary);

  const manpath = path.join(prefix, 'share', 'man');
  for (const [page, file] of [
    ['dopq', 'man1/dopq.1'],
    ['dopq-sim', 'man1/dopq-sim.1'],
    ['dopq-manifest', 'man5/dopq-manifest.5'],
    ['dopq.yaml', 'man5/dopq.yaml.5'],
  ]) {
    const found = await sh('man', ['-M', manpath, '-w', page!]);
    t.is(found.code, 0, `${page}: ${found.stderr}`);
    t.is(await readFile(found.stdout.trim(), 'utf8'), await readFile(path.join(CHECKOUT, 'man', path.basename(file!)), 'utf8'), page);
    // npm links the pages where man looks: <prefix>/share/man/man1/dopq.1 and so on.
    t.true((await lstat(path.join(manpath, file!))).isSymbolicLink(), file);
  }
});

test('the shipped systemd unit passes systemd-analyze verify with the installed dopq', async (t) => {
  const { dopq, prefix, work } = await installed();
  const shipped = await readFile(path.join(prefix, 'lib', 'node_modules', 'dopq', 'etc', 'systemd', 'dopq.service'), 'utf8');
  for (const line of [
    'After=docker.service',
    'Restart=on-failure',
    'KillMode=mixed',
    'ExecReload=/bin/kill -HUP $MAINPID',
    'ExecStart=dopq run',
  ])
    t.true(shipped.split('\n').includes(line), line);
  // verify resolves ExecStart= on this machine's PATH: point it at the installed dopq.
  const unit = path.join(work, 'dopq.service');
  await writeFile(unit, shipped.replace(/^ExecStart=dopq /m, `ExecStart=${dopq} `));
  const verified = await sh('systemd-analyze', ['verify', unit], {
    env: { MANPATH: path.join(prefix, 'share', 'man'), SYSTEMD_LOG_LEVEL: 'notice' },
  });
  const complaints = `${verified.stdout}${verified.stderr}`.split('\n').filter((line) => line.includes('dopq.service'));
  t.is(verified.code, 0, `${verified.stdout}${verified.stderr}`);
  t.deepEqual(complaints, []);
});

test("the shipped cron line runs `dopq run --once` each minute as root, on a PATH with npm's bin folders", async (t) => {
  const { prefix, work } = await installed();
  const cron = await readFile(path.join(prefix, 'lib', 'node_modules', 'dopq', 'etc', 'cron.d', 'dopq'), 'utf8');
  const lines = cron.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#'));
  const pathLine = lines.find((line) => line.startsWith('PATH='));
  t.truthy(pathLine);
  for (const dir of ['/usr/local/bin', '/usr/bin']) t.true(pathLine!.slice(5).split(':').includes(dir), dir);
  const jobs = lines.filter((line) => !/^[A-Z_]+=/.test(line));
  t.is(jobs.length, 1, cron);
  const [minute, hour, day, month, weekday, user, ...command] = jobs[0]!.split(/\s+/);
  t.deepEqual([minute, hour, day, month, weekday, user], ['*', '*', '*', '*', '*', 'root']);
  t.regex(command.join(' '), /(^| )dopq run --once$/);
  // The command as cron runs it (sh -c, that PATH), with the installed dopq: one pass, on a
  // config of the test's (its spool in the test's folder), taking its own flock.
  const config = path.join(work, 'cron.yaml');
  await writeFile(config, 'spool: ./cron-spool\ngpus: [0]\ngpu_assignment: env\nbuilds: {min_free: 1m}\n', { mode: 0o644 });
  const line = command.join(' ').replace('/run/lock/dopq-cron.lock', path.join(work, 'cron.lock'));
  const pass = await sh('sh', ['-c', line], { env: { PATH: `${path.join(prefix, 'bin')}:${pathLine!.slice(5)}`, DOPQ_CONFIG: config } });
  t.is(pass.code, 0, `${pass.stdout}${pass.stderr}`);
  t.truthy(JSON.parse(await readFile(path.join(work, 'cron-spool', 'state', 'state.json'), 'utf8')));
});
