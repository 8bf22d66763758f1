// A damaged state: readers say so (no stack trace), `dopq init --repair` puts back state.json.prev.
import { readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import type { JobRecord } from '../../src/core/job/job.js';
import type { StateFile } from '../../src/core/state.js';
import { createStateWriter, emptyState } from '../../src/io/spool/state-store.js';
import { makeSpool, type TestSpool } from '../helpers/spool.js';
import { alice } from '../helpers/users.js';

function job(id: number, state: JobRecord['state'], at: number): JobRecord {
  return {
    id,
    user: 'root',
    uid: 0,
    name: `job-${id}`,
    image: 'busybox',
    gpus_requested: 1,
    gpus: [],
    state,
    submitted_at: at,
    time_limit: 600,
  };
}

const stateFile = (spool: TestSpool) => path.join(spool.spoolDir, 'state', 'state.json');

/** Two generations as the daemon writes them: [1 queued, 2 done], then job 3 added. */
async function twoGenerations(spool: TestSpool): Promise<{ first: string; second: string }> {
  const writer = createStateWriter(stateFile(spool), (error) => {
    throw error;
  });
  const at = Date.parse('2026-03-01T10:00:00.000Z');
  const state = (...jobs: JobRecord[]): StateFile => ({ ...emptyState(), jobs });
  await writer.write(state(job(1, 'queued', at), { ...job(2, 'done', at), finished_at: at + 5_000 }));
  const first = await readFile(stateFile(spool), 'utf8');
  await writer.write(state(job(1, 'queued', at), { ...job(2, 'done', at), finished_at: at + 5_000 }, job(3, 'queued', at + 9_000)));
  const second = await readFile(stateFile(spool), 'utf8');
  for (const id of [1, 3]) await writeFile(path.join(spool.spoolDir, 'jobs', `${id}.json`), '{}', { mode: 0o600 });
  return { first, second };
}

async function snapshot(dir: string): Promise<Record<string, string>> {
  const names = (await readdir(dir)).sort();
  return Object.fromEntries(
    await Promise.all(names.map(async (name) => [name, await readFile(path.join(dir, name), 'utf8').catch(() => '<folder>')])),
  );
}

test('dopq q on a truncated state names the file and the repair, exits 78, no stack trace', async (t) => {
  const spool = await makeSpool(t);
  const { second } = await twoGenerations(spool);
  await truncate(stateFile(spool), Math.floor(second.length / 2));
  const result = await spool.cli(['q']);
  t.is(result.code, 78);
  t.is(result.stdout, '');
  t.regex(result.stderr, new RegExp(`^dopq: ${stateFile(spool).replaceAll('.', '\\.')}: damaged: truncated`));
  t.regex(result.stderr, /\nhint: as root, `dopq init --repair`/);
  t.notRegex(result.stderr, /\n\s+at /);
  t.notRegex(result.stderr, /SyntaxError|internal error/);
});

test('dopq init --repair restores state.json.prev and reports what was restored and lost', async (t) => {
  const spool = await makeSpool(t);
  const { first, second } = await twoGenerations(spool);
  await truncate(stateFile(spool), Math.floor(second.length / 2));
  const damagedBytes = await readFile(stateFile(spool), 'utf8');
  const result = await spool.cli(['init', '--repair']);
  t.is(result.code, 0, result.stderr);
  t.is(await readFile(stateFile(spool), 'utf8'), first);
  t.is((await stat(stateFile(spool))).mode & 0o7777, 0o644);
  const aside = (await readdir(path.dirname(stateFile(spool)))).filter((name) => name.startsWith('state.json.damaged-'));
  t.is(aside.length, 1);
  t.regex(aside[0]!, /^state\.json\.damaged-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  t.is(await readFile(path.join(path.dirname(stateFile(spool)), aside[0]!), 'utf8'), damagedBytes);
  t.regex(result.stdout, /was damaged: truncated/);
  t.regex(result.stdout, new RegExp(`kept the damaged file as .*${aside[0]!.replaceAll('.', '\\.')}`));
  t.regex(result.stdout, /restored .*state\.json\.prev: the state as of \d{4}-\d\d-\d\dT[\d:.]+Z \(2 jobs: 1 queued, 1 done\)/);
  t.regex(result.stdout, /lost: every change after /);
  t.regex(result.stdout, /lost: job 3: no record in the restored state; its job file is kept in .*jobs, but it must be pushed again/);
  t.notRegex(result.stdout, /lost: jobs? 1\b/);
  t.is(result.stderr, '');
  // Readers work again, and the pid file the repair took the daemon lock with is gone.
  t.deepEqual((await spool.q()).jobs.map((j) => j.id).sort(), [1, 2]);
  t.false((await readdir(path.dirname(stateFile(spool)))).includes('daemon.pid'));
});

test('dopq init --repair also restores a state.json that is empty or missing beside .prev', async (t) => {
  const spool = await makeSpool(t);
  const { first } = await twoGenerations(spool);
  await writeFile(stateFile(spool), '');
  const empty = await spool.cli(['init', '--repair']);
  t.is(empty.code, 0, empty.stderr);
  t.regex(empty.stdout, /was empty\n/);
  t.is(await readFile(stateFile(spool), 'utf8'), first);
  await rm(stateFile(spool));
  t.regex((await spool.cli(['q'])).stderr, /damaged: missing, though state\.json\.prev exists/);
  const missing = await spool.cli(['init', '--repair']);
  t.is(missing.code, 0, missing.stderr);
  t.regex(missing.stdout, /was missing\nrestored /);
  t.is(await readFile(stateFile(spool), 'utf8'), first);
});

test('dopq init --repair on a whole state says so and changes nothing', async (t) => {
  const spool = await makeSpool(t);
  await twoGenerations(spool);
  const dir = path.dirname(stateFile(spool));
  const before = await snapshot(dir);
  const result = await spool.cli(['init', '--repair']);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /state\.json is whole \(3 jobs: 2 queued, 1 done\); nothing to change\n$/);
  t.deepEqual(await snapshot(dir), before);
});

test('dopq init --repair refuses when state.json and state.json.prev are both damaged, changing nothing', async (t) => {
  const spool = await makeSpool(t);
  await twoGenerations(spool);
  await writeFile(stateFile(spool), 'garbage');
  await writeFile(`${stateFile(spool)}.prev`, '{"version": 7, "jobs": []}');
  const dir = path.dirname(stateFile(spool));
  const before = await snapshot(dir);
  const result = await spool.cli(['init', '--repair']);
  t.is(result.code, 78);
  t.is(result.stdout, '');
  t.regex(result.stderr, /state\.json: damaged: not JSON/);
  t.regex(result.stderr, /state\.json\.prev: damaged: not a state: version is 7/);
  t.regex(result.stderr, /nothing was changed/);
  t.notRegex(result.stderr, /\n\s+at /);
  t.deepEqual(await snapshot(dir), before);
  // No earlier generation at all: the same refusal.
  await rm(`${stateFile(spool)}.prev`);
  const alone = await spool.cli(['init', '--repair']);
  t.is(alone.code, 78);
  t.regex(alone.stderr, /state\.json\.prev: missing\n/);
  t.is(await readFile(stateFile(spool), 'utf8'), 'garbage');
});

test('dopq init --repair is for root only', async (t) => {
  const spool = await makeSpool(t);
  const result = await spool.cli(['init', '--repair'], { user: alice() });
  t.is(result.code, 77);
  t.regex(result.stderr, /only root repairs the state/);
});
