// The sudoers rule `dopq slurm-setup` prints, through the real sudo as a real user: the batch
// script's one command gets through; every other dopq command line, which would run as root, is
// refused by sudo itself (sudo's `*` matches spaces, so a wildcard rule let `push` run as root).
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { CLI } from '../helpers/cli.js';
import { makeSpool } from '../helpers/spool.js';
import { allowNodeRun } from '../helpers/sudoers.js';
import { alice, runAs } from '../helpers/users.js';

const sudo = (configFile: string, words: string[], env: NodeJS.ProcessEnv = {}) =>
  runAs(alice(), '/usr/bin/sudo', ['-n', '--', process.execPath, CLI, ...words], { env: { PATH: '/usr/bin:/bin', ...env } });

test('through sudo a user may start node-run with one job id and the fixed config, and run nothing else as root', async (t) => {
  const spool = await makeSpool(t, { backend: 'slurm', gpus: [] });
  t.teardown(allowNodeRun(spool.configFile));
  const config = spool.configFile;

  // The batch script's command reaches dopq (which then wants a Slurm job around it).
  const allowed = await sudo(config, ['--config', config, 'node-run', '7']);
  t.is(allowed.code, 64, allowed.stderr);
  t.regex(allowed.stderr, /^dopq: job 7: SLURM_JOB_ID is not set/);

  const hostile: string[][] = [
    // A job pushed as root runs as uid 0, with any mount under the allowed roots.
    ['--config', config, 'push', '--gpus', '0', '--image', 'debian:12', '--', 'node-run', '7'],
    ['--config', config, 'rm', '--all', '--', 'node-run', '7'],
    ['--config', config, 'history', 'clear', 'node-run', '7'],
    ['--config', config, 'node-run', '7', '--config', '/tmp/mine.yaml'],
    ['--config', config, 'node-run', '7', '--debug'],
    ['--config', config, 'node-run', '7', '8'],
    ['--config', '/tmp/mine.yaml', 'node-run', '7'],
    ['--config', config, 'node-run', '-7'],
    ['node-run', '7', '--config', config],
  ];
  for (const words of hostile) {
    const refused = await sudo(config, words);
    t.is(refused.code, 1, `${words.join(' ')}: ${refused.stderr}`);
    t.regex(refused.stderr, /^sudo: a password is required/, words.join(' '));
  }
  t.deepEqual(await readdir(`${spool.spoolDir}/intake`), [], 'nothing was pushed as root');

  // Of the caller's environment only SLURM_JOB_ID reaches node-run (which checks it with the controller).
  // NODE_OPTIONS would load the caller's code into root's node.
  const marker = path.join(spool.shared, 'loaded-as-root');
  const preload = path.join(spool.shared, 'preload.cjs');
  await writeFile(preload, `require('fs').writeFileSync(${JSON.stringify(marker)}, 'root')\n`, { mode: 0o644 });
  const env = await sudo(config, ['--config', config, 'node-run', '7'], {
    SLURM_JOB_ID: 'x',
    SLURM_CONF: '/tmp/mine.conf',
    NODE_OPTIONS: `--require ${preload}`,
  });
  t.regex(env.stderr, /SLURM_JOB_ID is not a job id: "x"/);
  t.false(existsSync(marker), 'NODE_OPTIONS reached node');
});
