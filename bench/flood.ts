// `node dist/bench/flood.js` (and the end of `npm run bench`): what bounded inputs cost. The
// daemon's pass and `dopq q` on an empty spool, with 20,000 rejected records in the state, and
// with 3,000 request files waiting, all in the same run. Prints figures; asserts nothing.
// Needs root and the Docker engine (`bash scripts/docker-engine.sh`): `run --once` probes it.
import { benchSpool, type BenchSpool } from './bench-spool.js';
import { readdir, readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeRequest } from '../src/core/job/envelope.js';
import type { JobRecord } from '../src/core/job/job.js';
import type { StateFile } from '../src/core/state.js';
import { writeFileAtomic } from '../src/io/files/atomic-write.js';
import { publish, REQUEST_SUFFIX } from '../src/io/spool/spool.js';
import { runCli, startDaemonProcess } from '../test/helpers/cli.js';

const ROUNDS = Number(process.env['BENCH_FLOOD_ROUNDS'] ?? 5);
const REJECTED = 20_000;
const REJECTED_USERS = 200;
/** limits.per_user.rejected is 100 by default: raised so the daemon keeps every seeded record. */
const REJECTED_CAP = REJECTED;
const REQUESTS = 3_000;

type Bench = BenchSpool;

async function makeBench(): Promise<Bench> {
  return benchSpool('flood', { gpus: [0], limits: { per_user: { rejected: REJECTED_CAP } } });
}

const seedState = (b: Bench, jobs: JobRecord[], paused = false) =>
  writeFileAtomic(
    b.spool.state,
    JSON.stringify({ version: 1, jobs, gpus: [], daemon: null, ...(paused ? { paused: { by: 'root', at: Date.now() } } : {}) }),
  );

/** Records as intake.ts writes a job it refused, spread over many users, all of the last hour. */
function rejectedJobs(now: number): JobRecord[] {
  return Array.from({ length: REJECTED }, (_, i) => ({
    id: i + 1,
    user: `flood${i % REJECTED_USERS}`,
    uid: 3000 + (i % REJECTED_USERS),
    name: `bad-${i}`,
    image: '',
    gpus_requested: 0,
    gpus: [],
    state: 'rejected',
    reason: 'rejected',
    message: 'gpus: expected a whole number, got "lots" (line 3)',
    submitted_at: now - 3_600_000 + i,
    finished_at: now - 3_600_000 + i,
    time_limit: 0,
  }));
}

/** Queued jobs of a paused queue (nothing starts), each to be cancelled by one request. */
function queuedJobs(now: number): JobRecord[] {
  return Array.from({ length: REQUESTS }, (_, i) => ({
    id: i + 1,
    user: 'root',
    uid: 0,
    name: `q-${i}`,
    image: 'dopq-busybox:latest',
    gpus_requested: 1,
    gpus: [],
    state: 'queued',
    submitted_at: now - 60_000 + i,
    time_limit: 600,
  }));
}

/** As the CLI's sendRequest writes `dopq rm ID`: one published file per request, named by time. */
async function dropRequests(b: Bench): Promise<void> {
  for (let i = 0; i < REQUESTS; i++) {
    const at = Date.now();
    const name = `${String(at).padStart(15, '0')}-${String(i).padStart(16, '0')}${REQUEST_SUFFIX}`;
    await publish(b.spool.requests, name, encodeRequest({ op: 'rm', ids: [i + 1], at }), 0o600);
  }
}

async function timed(b: Bench, args: string[]): Promise<number> {
  const t0 = performance.now();
  const result = await runCli(['--config', b.configFile, ...args]);
  const ms = performance.now() - t0;
  if (result.code !== 0) throw new Error(`dopq ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return ms;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
const state = async (b: Bench) => JSON.parse(await readFile(b.spool.state, 'utf8')) as StateFile;

interface Row {
  scenario: string;
  pass: number;
  q: number;
  qJson: number;
  qAll: number;
}

/** `run --once` (one full pass, process start included) and the three ways to read the queue. */
async function measure(b: Bench, scenario: string, before: () => Promise<void> = async () => {}): Promise<Row> {
  const pass: number[] = [];
  const q: number[] = [];
  const qJson: number[] = [];
  const qAll: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    await before();
    q.push(await timed(b, ['q']));
    qJson.push(await timed(b, ['q', '--json']));
    qAll.push(await timed(b, ['q', '--all']));
    pass.push(await timed(b, ['run', '--once']));
  }
  return { scenario, pass: median(pass), q: median(q), qJson: median(qJson), qAll: median(qAll) };
}

/** A running daemon meets 3,000 requests at once: how long until all are handled, and its log. */
async function clearFlood(b: Bench): Promise<{ cleared: number; cancelled: number; log: string[] }> {
  await seedState(b, queuedJobs(Date.now()), true);
  const daemon = startDaemonProcess(b.configFile);
  await sleep(1500); // up and idle
  const t0 = performance.now();
  await dropRequests(b);
  while ((await readdir(b.spool.requests)).some((name) => name.endsWith(REQUEST_SUFFIX))) await sleep(5);
  const cleared = performance.now() - t0;
  let cancelled: number;
  while (
    (cancelled = (await state(b)).jobs.filter((job) => job.state === 'cancelled').length) < REQUESTS &&
    performance.now() - t0 < 60_000
  )
    await sleep(20);
  await daemon.stop();
  const log = daemon
    .output()
    .split('\n')
    .filter((line) => /pass \d+ took|handled \d+ requests/.test(line));
  return { cleared, cancelled, log };
}

const ms = (value: number) => `${value.toFixed(0)} ms`.padStart(9);

const b = await makeBench();
try {
  const rows: Row[] = [];
  rows.push(await measure(b, 'empty spool'));
  await seedState(b, rejectedJobs(Date.now()));
  rows.push(await measure(b, `${REJECTED.toLocaleString('en')} rejected records`));
  const kept = (await state(b)).jobs.filter((job) => job.state === 'rejected').length;
  rows.push(
    await measure(b, `${REQUESTS.toLocaleString('en')} request files`, async () => {
      await seedState(b, queuedJobs(Date.now()), true);
      await dropRequests(b);
    }),
  );
  const flood = await clearFlood(b);
  const start: number[] = [];
  for (let i = 0; i < ROUNDS; i++) start.push(await timed(b, ['--version']));

  console.log(`bounded inputs: median of ${ROUNDS} rounds, wall time of each CLI process (process start included)`);
  console.log(
    `  (limits.per_user.rejected raised from 100 to ${REJECTED_CAP} so the daemon keeps all ${REJECTED} records, ${REJECTED / REJECTED_USERS} per user over ${REJECTED_USERS} users; ${kept} kept after the passes)`,
  );
  console.log(
    `  ${'scenario'.padEnd(24)} ${'run --once'.padStart(10)} ${'q'.padStart(9)} ${'q --json'.padStart(9)} ${'q --all'.padStart(9)}`,
  );
  for (const row of rows)
    console.log(`  ${row.scenario.padEnd(24)} ${ms(row.pass).padStart(10)} ${ms(row.q)} ${ms(row.qJson)} ${ms(row.qAll)}`);
  console.log(`  ${'dopq --version'.padEnd(24)} ${ms(median(start)).padStart(10)}  (process start alone, for scale)`);
  console.log(
    `  run --once with ${REQUESTS} request files: one pass that handles them all (root's rm of ${REQUESTS} queued jobs of a paused queue).`,
  );
  console.log(
    `running daemon, ${REQUESTS} rm requests dropped at once: all handled after ${ms(flood.cleared).trim()} (first drop to empty requests/), ${flood.cancelled} jobs cancelled`,
  );
  console.log(
    flood.log.length
      ? flood.log.map((line) => `  daemon: ${line.trim()}`).join('\n')
      : '  daemon: no pass took 2 s or more (it logs only those)',
  );
} finally {
  await rm(b.dir, { recursive: true, force: true });
}
