import { link, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { JobRecord } from '../../src/core/job/job.js';
import type { StateFile } from '../../src/core/state.js';
import {
  checkStateFile,
  createStateWriter,
  DamagedStateError,
  emptyState,
  readState,
  restoreState,
} from '../../src/io/spool/state-store.js';

async function stateDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'dopq-state-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return path.join(dir, 'state.json');
}

function job(id: number, state: JobRecord['state'] = 'queued'): JobRecord {
  return {
    id,
    user: 'alice',
    uid: 1000,
    name: `job-${id}`,
    image: 'busybox',
    gpus_requested: 1,
    gpus: [],
    state,
    submitted_at: 1_700_000_000_000 + id,
    time_limit: 600,
  };
}

function stateWith(...jobs: JobRecord[]): StateFile {
  return { ...emptyState(), jobs };
}

const neverCompromised = (error: Error) => {
  throw error;
};

const damaged: [string, string, RegExp][] = [
  ['truncated JSON', JSON.stringify(stateWith(job(1))).slice(0, 40), /truncated/],
  ['garbage', 'hello, world\n', /^damaged: not JSON \([^\n]*hello, world\\n[^\n]*\)$/],
  ['a JSON list', '[1, 2]\n', /not a state: the JSON is a list/],
  ['another version', '{"version": 2, "jobs": []}\n', /version is 2, expected 1/],
  ['no jobs list', '{"version": 1, "jobs": {}}\n', /"jobs" is an object, expected a list/],
  ['a job without an id', '{"version": 1, "jobs": [{"state": "queued"}]}\n', /jobs\[0\] is not a job/],
];
for (const [what, text, reason] of damaged) {
  test(`readState refuses ${what}, naming the file and the repair`, async (t) => {
    const file = await stateDir(t);
    await writeFile(file, text);
    const error = await t.throwsAsync(readState(file), { instanceOf: DamagedStateError });
    t.is(error?.subject, file);
    t.is(error?.exitCode, 78);
    t.is(error?.code, 'damaged-state');
    t.regex(error?.message ?? '', reason);
    t.regex(error?.hint ?? '', /dopq init --repair/);
  });
}

test('an empty or missing state is an empty state while no earlier generation exists', async (t) => {
  const file = await stateDir(t);
  t.deepEqual(await readState(file), emptyState());
  await writeFile(file, '');
  t.deepEqual(await readState(file), emptyState());
});

test('an empty or missing state.json beside a state.json.prev is damage', async (t) => {
  const file = await stateDir(t);
  await writeFile(`${file}.prev`, JSON.stringify(stateWith(job(1))));
  await writeFile(file, '');
  const empty = await t.throwsAsync(readState(file), { instanceOf: DamagedStateError });
  t.is(empty?.subject, file);
  t.regex(empty?.message ?? '', /empty, though state\.json\.prev exists/);
  await rm(file);
  const missing = await t.throwsAsync(readState(file), { instanceOf: DamagedStateError });
  t.regex(missing?.message ?? '', /missing, though state\.json\.prev exists/);
});

test('a whole state reads back with defaults filled in', async (t) => {
  const file = await stateDir(t);
  await writeFile(file, JSON.stringify({ version: 1, jobs: [job(3, 'done')] }));
  t.deepEqual(await readState(file), { ...emptyState(), jobs: [job(3, 'done')] });
});

test('the writer keeps the generation it replaces as state.json.prev, 0644', async (t) => {
  const file = await stateDir(t);
  const writer = createStateWriter(file, neverCompromised);
  await writer.write(stateWith(job(1)));
  const first = await readFile(file, 'utf8');
  t.deepEqual(await checkStateFile(`${file}.prev`), { kind: 'missing' }, 'the empty file the writer starts from is not kept');
  await writer.write(stateWith(job(1), job(2)));
  t.is(await readFile(`${file}.prev`, 'utf8'), first);
  t.is((await stat(`${file}.prev`)).mode & 0o7777, 0o644);
  const second = await readFile(file, 'utf8');
  await writer.write(stateWith(job(1, 'running'), job(2)));
  t.is(await readFile(`${file}.prev`, 'utf8'), second);
  t.is((await stat(`${file}.prev`)).nlink, 1, 'the old generation has only its .prev name left');
  t.deepEqual((await readdir(path.dirname(file))).sort(), ['state.json', 'state.json.prev'], 'no temp files or locks left behind');
});

test('a write after one that failed midway (.prev already names the file in place) leaves no temp name', async (t) => {
  const file = await stateDir(t);
  const writer = createStateWriter(file, neverCompromised);
  await writer.write(stateWith(job(1)));
  await writer.write(stateWith(job(1), job(2)));
  const current = await readFile(file, 'utf8');
  await rm(`${file}.prev`);
  await link(file, `${file}.prev`); // what keeping it did before a failed rename of the new state
  await writer.write(stateWith(job(1), job(2), job(3)));
  t.is(await readFile(`${file}.prev`, 'utf8'), current);
  t.deepEqual((await readdir(path.dirname(file))).sort(), ['state.json', 'state.json.prev']);
});

test('a file put in place behind the writer never becomes state.json.prev', async (t) => {
  const file = await stateDir(t);
  const writer = createStateWriter(file, neverCompromised);
  await writer.write(stateWith(job(1)));
  await writer.write(stateWith(job(1), job(2)));
  const good = await readFile(`${file}.prev`, 'utf8');
  // Someone else's whole, valid file (an editor's save): still not one the daemon wrote.
  await writeFile(`${file}.edit`, JSON.stringify(stateWith(job(9))));
  await rename(`${file}.edit`, file);
  await writer.write(stateWith(job(1), job(2), job(3)));
  t.is(await readFile(`${file}.prev`, 'utf8'), good);
  t.deepEqual(
    JSON.parse(await readFile(file, 'utf8')).jobs.map((j: JobRecord) => j.id),
    [1, 2, 3],
  );
});

test('a new writer keeps the state in place only if it reads as a state', async (t) => {
  const file = await stateDir(t);
  await writeFile(`${file}.prev`, 'the older, good one');
  await writeFile(file, '{"version": 1, "jobs": [');
  await createStateWriter(file, neverCompromised).write(stateWith(job(1)));
  t.is(await readFile(`${file}.prev`, 'utf8'), 'the older, good one');
  const whole = JSON.stringify(stateWith(job(2)));
  await writeFile(file, whole);
  await createStateWriter(file, neverCompromised).write(stateWith(job(2), job(3)));
  t.is(await readFile(`${file}.prev`, 'utf8'), whole);
});

test('restoreState keeps the damaged file aside and puts the text in place', async (t) => {
  const file = await stateDir(t);
  await writeFile(file, 'broken');
  const good = JSON.stringify(stateWith(job(1)));
  const kept = await restoreState(file, good, new Date('2026-01-02T03:04:05.678Z'));
  t.is(kept, `${file}.damaged-2026-01-02T03:04:05.678Z`);
  t.is(await readFile(kept!, 'utf8'), 'broken');
  t.is(await readFile(file, 'utf8'), good);
  t.is((await stat(file)).mode & 0o7777, 0o644);
  await rm(file);
  t.is(await restoreState(file, good, new Date()), undefined, 'nothing to keep when state.json is missing');
  t.is(await readFile(file, 'utf8'), good);
});
