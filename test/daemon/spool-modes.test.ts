// `dopq init` and the checks `dopq run` makes before it trusts a spool and a config.
import { chmod, mkdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { makeSpool } from '../helpers/spool.js';
import { alice } from '../helpers/users.js';

test('run refuses a spool folder others can write, naming the path and the mode it expected; init fixes it', async (t) => {
  const spool = await makeSpool(t);
  const intake = path.join(spool.spoolDir, 'intake');
  await chmod(intake, 0o777); // world-writable without the sticky bit
  const refused = await spool.cli(['run', '--once']);
  t.is(refused.code, 78, refused.stderr);
  t.regex(refused.stderr, new RegExp(`${intake}: has mode 0777.*expected a folder owned by root, mode 1777`));

  const notRoot = await spool.cli(['init'], { user: alice() });
  t.is(notRoot.code, 77, notRoot.stderr);

  const fixed = await spool.cli(['init']);
  t.is(fixed.code, 0, fixed.stderr);
  t.regex(fixed.stdout, new RegExp(`${intake}: mode 0777 -> 1777`));
  t.is((await spool.cli(['run', '--once'])).code, 0);
});

test('run refuses private folders opened to others, a config others can write, and a writable folder above the spool', async (t) => {
  const spool = await makeSpool(t);
  const jobs = path.join(spool.spoolDir, 'jobs');
  await chmod(jobs, 0o755);
  let result = await spool.cli(['run', '--once']);
  t.is(result.code, 78);
  t.regex(result.stderr, new RegExp(`${jobs}: has mode 0755, open to others.*mode 0700`));
  await chmod(jobs, 0o700);

  await chmod(spool.configFile, 0o666);
  result = await spool.cli(['run', '--once']);
  t.is(result.code, 78);
  t.regex(result.stderr, new RegExp(`${spool.configFile}: has mode 0666, writable by others`));
  await chmod(spool.configFile, 0o644);

  // The test folder holds both the spool and the config: whoever may rename in it owns both.
  await chmod(spool.dir, 0o777);
  result = await spool.cli(['run', '--once']);
  t.is(result.code, 78);
  t.regex(result.stderr, new RegExp(`${spool.dir}: has mode 0777, writable by others`));
  t.regex(result.stderr, /hint: .*dopq init/);
  await chmod(spool.dir, 0o755);
  t.is((await spool.cli(['run', '--once'])).code, 0);
});

test('a new spool is created with its modes by run; a symlink in the layout is refused', async (t) => {
  const spool = await makeSpool(t);
  const fresh = path.join(spool.dir, 'fresh');
  await mkdir(fresh);
  const config = path.join(spool.dir, 'fresh.yaml');
  await writeFile(config, `spool: ./fresh/spool\ngpus: [0]\ngpu_assignment: env\n`);
  const result = await spool.cli(['--config', config, 'run', '--once']);
  t.is(result.code, 0, result.stderr);
  t.is((await stat(path.join(fresh, 'spool', 'intake'))).mode & 0o7777, 0o1777);
  t.is((await stat(path.join(fresh, 'spool', 'jobs'))).mode & 0o7777, 0o700);

  // A link where the daemon writes could point it anywhere.
  await rm(path.join(fresh, 'spool', 'logs'), { recursive: true });
  await symlink('/etc', path.join(fresh, 'spool', 'logs'));
  const linked = await spool.cli(['--config', config, 'run', '--once']);
  t.is(linked.code, 78);
  t.regex(linked.stderr, /logs: is a symbolic link/);
  const init = await spool.cli(['--config', config, 'init']);
  t.not(init.code, 0);
  t.regex(init.stderr, /logs: is a symbolic link; remove it/);
});
