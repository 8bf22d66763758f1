// `dopq q --watch`: a new view each time the queue changes (woken by the spool, not only by the
// interval), nothing printed while it stays the same, exit 0 on Ctrl-C; on a terminal each frame
// overwrites the last in place rather than clearing the screen first.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { stringify } from 'yaml';
import { CLI } from '../helpers/cli.js';
import { makeTempSpool } from '../io/temp-spool.js';

test('q --watch prints a view when the queue changes and exits 0 on SIGINT', async (t) => {
  const spool = await makeTempSpool(t);
  const child = spawn(process.execPath, [CLI, '--config', spool.configFile, 'q', '--watch', '60', '--format', 'id,name,state'], {
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  const frames = () => stdout.split('\n\n').filter(Boolean);
  let onFrame = () => {};
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    onFrame();
  });
  const seen = (count: number) =>
    new Promise<void>((resolve) => {
      onFrame = () => (frames().length >= count ? resolve() : undefined);
      onFrame();
    });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  await seen(1);
  t.is(frames()[0], '  (none)\n');
  // A push wakes it well before the 60 s interval: the intake is watched.
  const file = path.join(spool.dir, 'm.yaml');
  await writeFile(file, stringify({ name: 'watched', image: 'busybox' }));
  t.is((await spool.cli(['push', file])).code, 0);
  await seen(2);
  t.regex(frames()[1]!, /│ 1 +│ watched │ queued │/);
  child.kill('SIGINT');
  t.is(await exited, 0);
  t.is(frames().length, 2, `no frame printed while nothing changed: ${JSON.stringify(stdout)}`);
});
