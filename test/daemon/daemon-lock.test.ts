// Overlapping runs on one spool (cron's `dopq run --once`, a daemon): exactly one proceeds,
// the others exit 75 at once naming it, and no job is started twice.
import { mkdir, readdir, utimes } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { docker, makeSpool, type TestSpool } from '../helpers/spool.js';

const BUSY = /another dopq run is active on this spool \(pid (\d+)\)/;

async function containersOf(spool: TestSpool, id: number): Promise<number> {
  return (await docker.listContainers({ all: true, filters: { label: spool.labels(`dopq.job=${id}`) } })).length;
}

test('8 concurrent `run --once`: one runs, 7 exit 75 naming it, no job starts twice (5 rounds)', async (t) => {
  const spool = await makeSpool(t, { gpus: [0, 1, 2, 3] });
  const ids: number[] = [];
  for (let round = 0; round < 5; round += 1) {
    // Work for the pass, so the winner still holds the spool when the slowest contender arrives.
    const batch = [
      await spool.push({ name: `r${round}a`, command: 'echo a' }),
      await spool.push({ name: `r${round}b`, command: 'echo b' }),
    ];
    ids.push(...batch);
    const results = await Promise.all(Array.from({ length: 8 }, () => spool.cli(['run', '--once'])));
    const codes = results.map((r) => r.code);
    t.is(codes.filter((c) => c === 0).length, 1, `round ${round}: ${JSON.stringify(results.map((r) => [r.code, r.stderr.trim()]))}`);
    t.is(codes.filter((c) => c === 75).length, 7, `round ${round}`);
    const named = new Set(results.filter((r) => r.code === 75).map((r) => BUSY.exec(r.stderr)?.[1]));
    t.is(named.size, 1, `the losers all name the one run: ${JSON.stringify([...named])}`);
    t.false(named.has(undefined));
    for (const id of batch) t.is(await containersOf(spool, id), 1, `round ${round}: job ${id} has one container`);
    await t.throwsAsync(readdir(path.join(spool.spoolDir, 'state', 'daemon.lock')), { code: 'ENOENT' }, 'the winner let go');
  }
  for (const id of ids) t.is(await containersOf(spool, id), 1);
});

test('`run --once` (and a second `run`) while a daemon runs exits 75 at once, naming the daemon', async (t) => {
  const spool = await makeSpool(t);
  const daemon = spool.startDaemon();
  await spool.waitFor('the daemon', async () => (await spool.q()).daemon.running);
  const started = Date.now();
  const results = await Promise.all([spool.cli(['run', '--once']), spool.cli(['run', '--once']), spool.cli(['run'])]);
  // No time bound (this machine may be loaded): the daemon keeps its lock fresh, so a contender
  // that waited for it to go stale would still be waiting below, not exit 75 while it runs.
  t.log(`3 contenders answered in ${Date.now() - started} ms`);
  for (const result of results) {
    t.is(result.code, 75, result.stderr);
    t.is(BUSY.exec(result.stderr)?.[1], String(daemon.child.pid));
  }
  t.is(daemon.child.exitCode, null, 'the daemon runs on');
  t.is(await daemon.stop(), 0);
  t.is((await spool.cli(['run', '--once'])).code, 0, 'free again once it stopped');
});

test('a lock left by a SIGKILLed daemon is taken over at once by `run --once`', async (t) => {
  const spool = await makeSpool(t);
  const daemon = spool.startDaemon();
  await spool.waitFor('the daemon', async () => (await spool.q()).daemon.running);
  await daemon.stop('SIGKILL');
  const lockDir = path.join(spool.spoolDir, 'state', 'daemon.lock');
  const owner = (await readdir(lockDir)).find((name) => name.startsWith('owner.'));
  t.truthy(owner, 'the dead daemon left its lock');
  // Fresh as a live holder's: only the dead pid can let the next run in.
  const now = new Date();
  await utimes(path.join(lockDir, owner!), now, now);
  await utimes(lockDir, now, now);
  const result = await spool.cli(['run', '--once']);
  t.is(result.code, 0, result.stderr);
  t.false((await spool.q()).daemon.running);
});

test('a lock folder without an owner: 75 while fresh, taken over once stale', async (t) => {
  const spool = await makeSpool(t);
  const lockDir = path.join(spool.spoolDir, 'state', 'daemon.lock');
  await mkdir(lockDir);
  const fresh = await spool.cli(['run', '--once']);
  t.is(fresh.code, 75);
  t.regex(fresh.stderr, /another dopq run is taking the spool at this moment/);
  const old = new Date(Date.now() - 60_000);
  await utimes(lockDir, old, old);
  const stale = await spool.cli(['run', '--once']);
  t.is(stale.code, 0, stale.stderr);
});
