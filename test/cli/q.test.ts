// `dopq q` as users run it: a missing spool is an error (78), not an empty queue; before the
// daemon's first pass the config's GPUs; tables fitted to COLUMNS (whole in a pipe, or with
// --wide); header times in the TZ of the environment.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { stringify } from 'yaml';
import { encodeEnvelope } from '../../src/core/job/envelope.js';
import type { JobRecord } from '../../src/core/job/job.js';
import { staticInventory } from '../../src/core/schedule/gpus.js';
import type { QueueView } from '../../src/core/view/queue-view.js';
import { createStateWriter, emptyState } from '../../src/io/spool/state-store.js';
import { makeTempSpool, type TempSpool } from '../io/temp-spool.js';

const AT = Date.parse('2026-03-01T10:00:00.000Z');

async function writeConfig(spool: TempSpool, config: Record<string, unknown>): Promise<void> {
  await writeFile(spool.configFile, stringify({ spool: './spool', gpus: [0, 1], admins: [], builds: { min_free: '1m' }, ...config }));
}

async function pushJob(spool: TempSpool, name: string, gpus: number): Promise<number> {
  const file = path.join(spool.dir, `${name}.yaml`);
  await writeFile(file, stringify({ name, image: 'busybox', gpus }));
  const result = await spool.cli(['push', '--json', file]);
  if (result.code !== 0) throw new Error(result.stderr);
  return (JSON.parse(result.stdout) as { id: number }).id;
}

/** A state as a daemon leaves it: two GPUs, a long-named job that failed with a long message. */
async function writeState(spool: TempSpool, extra: Partial<ReturnType<typeof emptyState>> = {}): Promise<void> {
  const failed: JobRecord = {
    id: 1,
    user: 'root',
    uid: 0,
    name: 'preprocess-the-entire-imagenet-dataset-once-more-with-feeling',
    image: 'busybox',
    gpus_requested: 1,
    gpus: ['1'],
    state: 'failed',
    submitted_at: AT,
    started_at: Date.now() - 600_000,
    finished_at: Date.now(),
    exit_code: 137,
    reason: 'time-limit',
    message: 'stopped at its time limit of 10m; set time_limit in the manifest for longer runs',
    time_limit: 600,
  };
  const writer = createStateWriter(spool.paths.state, (error) => {
    throw error;
  });
  await writer.write({ ...emptyState(), gpus: staticInventory(['0', '1']), jobs: [failed], ...extra });
}

const widest = (text: string) => Math.max(...text.split('\n').map((line) => [...line].length));

test('a spool that does not exist: said with the config that names it, exit 78, nothing on stdout', async (t) => {
  const spool = await makeTempSpool(t);
  await writeConfig(spool, { spool: './nowhere' });
  for (const args of [['q'], ['q', '--json']]) {
    const result = await spool.cli(args);
    t.is(result.code, 78, result.stderr);
    // With --json, stdout holds the error as JSON (dopq(1), DIAGNOSTICS); else nothing.
    if (args.includes('--json')) t.like(JSON.parse(result.stdout), { error: { code: 'no-spool', exit_code: 78 } });
    else t.is(result.stdout, '');
    t.is(result.stderr.split('\n')[0], `dopq: ${path.join(spool.dir, 'nowhere')}: no such spool: the folder does not exist`);
    t.regex(result.stderr, new RegExp(`\\nhint: the config ${spool.configFile.replaceAll('.', '\\.')} names it`));
  }
  // A folder that is no spool (an init never run there) is the same mistake.
  await mkdir(path.join(spool.dir, 'empty'));
  await writeConfig(spool, { spool: './empty' });
  const result = await spool.cli(['q']);
  t.is(result.code, 78);
  t.regex(result.stderr, /^dopq: .*empty: is not a dopq spool: it has no intake\/ folder\n/);
});

test("before the daemon's first pass: the config's GPUs, jobs estimated on them; unknown with gpus: auto", async (t) => {
  const spool = await makeTempSpool(t);
  const two = await pushJob(spool, 'two', 2);
  const one = await pushJob(spool, 'one', 1);
  const tables = await spool.cli(['q']);
  t.is(tables.code, 0, tables.stderr);
  t.regex(tables.stdout, /^GPUs {4}2\/2 free {2}\[0:free 1:free\] \(the config's list; the daemon has not run yet\)$/m);
  t.notRegex(tables.stdout, /more GPUs than usable/);
  t.regex(tables.stdout, new RegExp(`│ ${two} +│ root +│ two +│ 2 +│ \\d+s +│ now +│`));
  const view = JSON.parse((await spool.cli(['q', '--json'])).stdout) as QueueView;
  t.like(view, { gpus_source: 'config', gpus_free: 2, gpus_total: 2 });
  t.not(view.jobs.find((job) => job.id === one)!.waiting_for, 'too-big', 'it waits for its turn, not for GPUs that do not exist');

  await writeConfig(spool, { gpus: 'auto' });
  const auto = await spool.cli(['q']);
  t.is(auto.code, 0, auto.stderr);
  t.regex(auto.stdout, /^GPUs {4}unknown until the daemon runs \(gpus: auto\)$/m);
  t.notRegex(auto.stdout, /more GPUs than usable|0\/0 free/);
  t.like(JSON.parse((await spool.cli(['q', '--json'])).stdout), { gpus_source: 'unknown' });
});

test('COLUMNS fits the tables; a pipe without it, and --wide, get them whole', async (t) => {
  const spool = await makeTempSpool(t);
  await writeState(spool);
  // Dropped as push would, pushed two days ago: its `waiting` reads 2d00h in every run below.
  const manifest = 'name: a-queued-job-with-a-name-long-enough-to-need-cutting-in-80-cols\nimage: busybox\n';
  const envelope = { id: 5, submitted_at: Date.now() - 2 * 86_400_000, source: '/root/long.yaml', manifest };
  await writeFile(path.join(spool.paths.intake, '5.job'), encodeEnvelope(envelope), { mode: 0o600 });
  const piped = await spool.cli(['q'], { env: { COLUMNS: '' } }); // as if the runner had none set
  t.is(piped.code, 0, piped.stderr);
  t.true(widest(piped.stdout) > 100, 'not a terminal: nothing cut');
  t.regex(piped.stdout, /│ a-queued-job-with-a-name-long-enough-to-need-cutting-in-80-cols │/);
  t.regex(piped.stdout, /│ stopped at its time limit of 10m; set time_limit in the manifest for longer runs │/, 'the detail whole');

  const fitted = await spool.cli(['q'], { env: { COLUMNS: '80' } });
  t.is(fitted.code, 0, fitted.stderr);
  t.true(widest(fitted.stdout) <= 80, fitted.stdout);
  t.regex(fitted.stdout, /│ a-queued-job-with-a-name-[^│ ]*… │/, 'names cut');
  t.regex(fitted.stdout, /│ 1 +│ root +│ preprocess-[^│]*│ failed \(time-limit\) +│ stopped at[^│]*│/, 'the detail is kept, cut');

  const wide = await spool.cli(['q', '--wide'], { env: { COLUMNS: '80' } });
  t.is(wide.stdout, piped.stdout, '--wide is the whole table whatever COLUMNS says');
  t.is((await spool.cli(['q', '-w'], { env: { COLUMNS: '80' } })).stdout, piped.stdout);
});

test('header times are local to TZ, to the minute; --json keeps ISO', async (t) => {
  const spool = await makeTempSpool(t);
  await writeState(spool, { paused: { by: 'root', at: AT } });
  const tokyo = await spool.cli(['q'], { env: { TZ: 'Asia/Tokyo' } });
  t.regex(tokyo.stdout, /paused by root since 2026-03-01 19:00: no new jobs start/);
  const utc = await spool.cli(['q'], { env: { TZ: 'UTC' } });
  t.regex(utc.stdout, /paused by root since 2026-03-01 10:00: no new jobs start/);
  const view = JSON.parse((await spool.cli(['q', '--json'], { env: { TZ: 'Asia/Tokyo' } })).stdout) as QueueView;
  t.is(view.paused?.since, '2026-03-01T10:00:00.000Z');
});
