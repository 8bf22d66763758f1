// `npm run bench`: dopq's latencies beside raw Docker in the same run, on the same engine and
// image. Prints figures; asserts nothing (speed is measured, not tested).
import { benchSpool } from './bench-spool.js';
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { stringify } from 'yaml';
import { instanceId } from '../src/daemon/context.js';
import { writeFileAtomic } from '../src/io/files/atomic-write.js';
import type { StateFile } from '../src/core/state.js';
import { runCli, startDaemonProcess } from '../test/helpers/cli.js';

const run = promisify(execFile);
const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const IMAGE = process.env['DOPQ_BUSYBOX_IMAGE'] ?? 'dopq-busybox:latest';
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 15);

interface DockerEvent {
  id: string;
  status: string;
  timeNano: number;
  Actor: { Attributes: Record<string, string> };
}

/** Collect container start/die events with nanosecond times, as the engine stamps them. */
async function recordEvents(label: string): Promise<{ events: DockerEvent[]; stop(): void }> {
  const events: DockerEvent[] = [];
  const stream = (await docker.getEvents({
    filters: { type: ['container'], event: ['start', 'die'], label: [label] },
  })) as unknown as NodeJS.ReadableStream & { destroy(): void };
  let buffer = '';
  stream.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let i;
    while ((i = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, i).trim();
      buffer = buffer.slice(i + 1);
      if (line) events.push(JSON.parse(line) as DockerEvent);
    }
  });
  return { events, stop: () => stream.destroy() };
}

/** Gaps between one container's die and the next one's start, in ms, in event order. */
function handoffGaps(events: DockerEvent[]): number[] {
  const gaps: number[] = [];
  let lastDie: number | undefined;
  for (const event of events) {
    if (event.status === 'die') lastDie = event.timeNano;
    else if (event.status === 'start' && lastDie !== undefined) {
      gaps.push((event.timeNano - lastDie) / 1e6);
      lastDie = undefined;
    }
  }
  return gaps;
}

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
};
const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
const median = (values: number[]) => quantile(values, 0.5);

/** Wall time of a bare `node -e 0`: the floor any `dopq` call stands on, measured beside it. */
async function nodeStart(): Promise<number> {
  const t0 = performance.now();
  await run(process.execPath, ['-e', '0']);
  return performance.now() - t0;
}

/** The figure against its target (issue 14: measured, not tested; a miss is printed, not failed). */
function target(figure: number, limit: number, how: string): string {
  return `target <= ${fmt(limit)} (${how}): ${figure <= limit ? 'met' : 'MISSED'}`;
}

/** A CLI's median wall time beside `node -e 0`'s in the same rounds: the target is 2x. */
function beside(label: string, times: number[], baseline: number[]): void {
  const ratio = median(times) / median(baseline);
  console.log(`  ${label}  median ${fmt(median(times))}, max ${fmt(Math.max(...times))}`);
  console.log(
    `    node -e 0 beside it: median ${fmt(median(baseline))}; ratio ${ratio.toFixed(2)}x, ${target(median(times), 2 * median(baseline), '2x node -e 0')}`,
  );
}

async function makeSpool(gpus: number) {
  const { dir, configFile, spool } = await benchSpool('bench', {
    gpus: Array.from({ length: gpus }, (_, i) => i),
    rescan_interval: '5s',
    reconcile_interval: '30s',
  });
  const manifest = async (name: string, command: string) => {
    const file = path.join(dir, `${name}.yaml`);
    await writeFile(file, stringify({ name, image: IMAGE, command }));
    return file;
  };
  return { dir, configFile, spool, manifest, label: `dopq.instance=${instanceId(spool.root)}` };
}

async function waitAllFinished(stateFile: string, count: number): Promise<void> {
  for (;;) {
    try {
      const state = JSON.parse(await readFile(stateFile, 'utf8')) as StateFile;
      if (state.jobs.filter((j) => ['done', 'failed'].includes(j.state)).length >= count) return;
    } catch {
      /* not written yet */
    }
    await sleep(50);
  }
}

async function benchDispatch() {
  // dopq: one GPU, ROUNDS short jobs queued behind each other.
  const s = await makeSpool(1);
  const rec = await recordEvents(s.label);
  const file = await s.manifest('short', 'sleep 0.3');
  for (let i = 0; i < ROUNDS; i++) await runCli(['--config', s.configFile, 'push', file]);
  const daemon = startDaemonProcess(s.configFile);
  await waitAllFinished(s.spool.state, ROUNDS);
  await daemon.stop();
  rec.stop();
  const dopq = handoffGaps(rec.events);

  // Raw: `docker run` of the same image back to back, the next one started as soon as the last exits.
  const raw = await recordEvents('bench=raw-docker-run');
  for (let i = 0; i < ROUNDS; i++)
    await run('docker', ['run', '--rm', '--network', 'none', '--label', 'bench=raw-docker-run', IMAGE, 'sleep', '0.3']);
  await sleep(200);
  raw.stop();
  const rawGaps = handoffGaps(raw.events);
  await rm(s.dir, { recursive: true, force: true });
  return { dopq, raw: rawGaps };
}

async function benchEightJobs() {
  const s = await makeSpool(8);
  const daemon = startDaemonProcess(s.configFile);
  await sleep(1500); // daemon up and idle
  const rec = await recordEvents(s.label);
  const file = await s.manifest('eight', 'sleep 3');
  const t0 = Date.now();
  await Promise.all(Array.from({ length: 8 }, () => runCli(['--config', s.configFile, 'push', file])));
  const pushed = Date.now();
  while (rec.events.filter((e) => e.status === 'start').length < 8) await sleep(10);
  const lastStart = Math.max(...rec.events.filter((e) => e.status === 'start').map((e) => e.timeNano / 1e6));
  rec.stop();
  await daemon.stop();
  for (const c of await docker.listContainers({ all: true, filters: { label: [s.label] } }))
    await docker.getContainer(c.Id).remove({ force: true });

  const raw = await recordEvents('bench=raw-eight');
  const r0 = Date.now();
  await Promise.all(
    Array.from({ length: 8 }, () =>
      run('docker', ['run', '-d', '--rm', '--network', 'none', '--label', 'bench=raw-eight', IMAGE, 'sleep', '3']),
    ),
  );
  while (raw.events.filter((e) => e.status === 'start').length < 8) await sleep(10);
  const rawLast = Math.max(...raw.events.filter((e) => e.status === 'start').map((e) => e.timeNano / 1e6));
  raw.stop();
  await rm(s.dir, { recursive: true, force: true });
  return { dopqAllRunning: lastStart - t0, pushesDone: pushed - t0, rawAllRunning: rawLast - r0 };
}

async function benchIntake() {
  const s = await makeSpool(1);
  const daemon = startDaemonProcess(s.configFile);
  await sleep(1500);
  const file = await s.manifest('intake', 'true');
  const pushTimes: number[] = [];
  const queuedTimes: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < 10; i++) {
    baseline.push(await nodeStart());
    const t0 = performance.now();
    const result = await runCli(['--config', s.configFile, 'push', '--json', file]);
    const t1 = performance.now();
    const id = (JSON.parse(result.stdout) as { id: number }).id;
    for (;;) {
      const state = await readFile(s.spool.state, 'utf8')
        .then(
          (text) => JSON.parse(text) as StateFile,
          () => undefined,
        )
        .catch(() => undefined); // not written yet, or the daemon's empty file before its first save
      if (state?.jobs.some((j) => j.id === id)) break;
      await sleep(2);
    }
    pushTimes.push(t1 - t0);
    queuedTimes.push(performance.now() - t0);
  }
  await daemon.stop();
  for (const c of await docker.listContainers({ all: true, filters: { label: [s.label] } }))
    await docker.getContainer(c.Id).remove({ force: true });
  await rm(s.dir, { recursive: true, force: true });
  return { pushTimes, queuedTimes, baseline };
}

/**
 * Push of a 1,000-task array beside a single push, in the same run, to a running daemon whose
 * queue is paused (nothing starts): the CLI's wall time of each, and from the array's push until
 * the daemon has all 1,000 tasks in its state.
 */
async function benchArray() {
  const s = await makeSpool(1);
  const daemon = startDaemonProcess(s.configFile);
  await runCli(['--config', s.configFile, 'pause']);
  const readState = () =>
    readFile(s.spool.state, 'utf8').then(
      (text) => JSON.parse(text) as StateFile,
      () => undefined,
    );
  while (!(await readState().catch(() => undefined))?.paused) await sleep(20);
  const push = ['--config', s.configFile, 'push', '--json', '--image', IMAGE, '--gpus', '0', '--time', '1m'];
  const single: number[] = [];
  const array: number[] = [];
  const queued: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < 5; i++) {
    baseline.push(await nodeStart());
    let t0 = performance.now();
    await runCli([...push, '--', 'true']);
    single.push(performance.now() - t0);
    t0 = performance.now();
    const result = await runCli([...push, '--array', '0-999', '--', 'true']);
    array.push(performance.now() - t0);
    const { last_id } = JSON.parse(result.stdout) as { last_id: number };
    while (!(await readState().catch(() => undefined))?.jobs.some((job) => job.id === last_id)) await sleep(5);
    queued.push(performance.now() - t0);
  }
  await daemon.stop();
  await rm(s.dir, { recursive: true, force: true });
  return { single, array, queued, baseline };
}

/**
 * `dopq q --json` on 10,000 queued jobs (a paused queue: nothing starts), each run beside a bare
 * `node -e 0`: with the daemon running, then with no daemon; q reads the state and builds the
 * view itself either way.
 */
async function benchQueue10k() {
  const s = await makeSpool(8);
  const now = Date.now();
  const jobs = Array.from({ length: 10_000 }, (_, i) => ({
    id: i + 1,
    user: `user${i % 50}`,
    uid: 2000 + (i % 50),
    name: `job-${i}`,
    image: IMAGE,
    gpus_requested: 1 + (i % 4),
    gpus: [],
    state: 'queued',
    submitted_at: now - i * 1000,
    time_limit: 3600,
  }));
  await writeFileAtomic(s.spool.state, JSON.stringify({ version: 1, jobs, gpus: [], daemon: null, paused: { by: 'root', at: now } }));
  const rounds = async () => {
    const times: number[] = [];
    const baseline: number[] = [];
    for (let i = 0; i < 7; i++) {
      baseline.push(await nodeStart());
      const t0 = performance.now();
      const result = await runCli(['--config', s.configFile, 'q', '--json']);
      times.push(performance.now() - t0);
      if ((JSON.parse(result.stdout) as { jobs: unknown[] }).jobs.length !== 10_000) throw new Error('q did not list 10,000 jobs');
    }
    return { times, baseline };
  };
  const daemon = startDaemonProcess(s.configFile);
  // Measured once the daemon has passed and saved (its record in the state): q then reads a state it writes.
  while ((JSON.parse(await readFile(s.spool.state, 'utf8').catch(() => '{}')) as { daemon?: unknown }).daemon == null) await sleep(50);
  const withDaemon = await rounds();
  await daemon.stop();
  const withoutDaemon = await rounds();
  await rm(s.dir, { recursive: true, force: true });
  return { withDaemon, withoutDaemon };
}

/**
 * A small build context (a Dockerfile, 200 files of 4 kB) built 5 times each way, alternating,
 * the cache busted by a changing file: `docker build` of the folder, and dopq from the push
 * (pack, publish, claim, build) until the job is queued with its image.
 */
async function benchBuild() {
  const s = await makeSpool(1);
  const context = path.join(s.dir, 'context');
  await mkdir(path.join(context, 'src'), { recursive: true });
  for (let i = 0; i < 200; i++) await writeFile(path.join(context, 'src', `f${i}.py`), 'x'.repeat(4096));
  await writeFile(path.join(context, 'Dockerfile'), `FROM ${IMAGE}\nCOPY src /src\nCOPY stamp /stamp\nCMD ["true"]\n`);
  const file = path.join(context, 'job.yaml');
  await writeFile(file, stringify({ name: 'built', build: { context: '.' }, gpus: 0 }));
  const daemon = startDaemonProcess(s.configFile);
  const dopq: number[] = [];
  const raw: number[] = [];
  for (let i = 0; i < 5; i++) {
    await writeFile(path.join(context, 'stamp'), `dopq-${i}-${Date.now()}`);
    const start = performance.now();
    const pushed = await runCli(['--config', s.configFile, 'push', '--json', file]);
    const id = (JSON.parse(pushed.stdout) as { id: number }).id;
    for (;;) {
      let state: StateFile | undefined;
      try {
        state = JSON.parse(await readFile(s.spool.state, 'utf8')) as StateFile;
      } catch {
        state = undefined; // not written yet
      }
      const job = state?.jobs.find((j) => j.id === id);
      if (job && job.needs_image === undefined && job.state !== 'building') break;
      await sleep(10);
    }
    dopq.push(performance.now() - start);
    await writeFile(path.join(context, 'stamp'), `raw-${i}-${Date.now()}`);
    const rawStart = performance.now();
    await run('docker', ['build', '-q', '--network', 'none', '-t', `dopq-bench-raw:${i}`, context]);
    raw.push(performance.now() - rawStart);
  }
  await daemon.stop();
  await run('sh', [
    '-c',
    `docker rmi -f $(docker images -q 'dopq-bench-raw') $(docker images -q 'dopq-${instanceId(s.spool.root)}/*') >/dev/null 2>&1 || true`,
  ]);
  await rm(s.dir, { recursive: true, force: true });
  return { dopq, raw };
}

/** CPU time (ms) a process has used so far: utime + stime from /proc/<pid>/stat, in clock ticks of 10 ms. */
async function cpuMsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // the name may hold spaces
  return (Number(fields[11]) + Number(fields[12])) * 10; // fields 14 and 15 of proc(5), CLK_TCK 100
}

/**
 * Two daemons side by side, each with 8 running jobs: one samples usage every 10 s (the default
 * telemetry.interval), the other has telemetry off. Their CPU time over the same window.
 */
async function benchTelemetry() {
  const seconds = Number(process.env['BENCH_TELEMETRY_SECONDS'] ?? 60);
  const sides = await Promise.all(
    [{ interval: '10s' }, { interval: 0 }].map(async (telemetry) => {
      const { dir, configFile, spool } = await benchSpool('bench-telemetry', {
        gpus: Array.from({ length: 8 }, (_, i) => i),
        rescan_interval: '5s',
        reconcile_interval: '30s',
        telemetry,
      });
      const file = path.join(dir, 'busy.yaml');
      await writeFile(file, stringify({ name: 'busy', image: IMAGE, command: 'sleep 600' }));
      return { dir, configFile, spool, file, label: `dopq.instance=${instanceId(spool.root)}` };
    }),
  );
  const daemons = sides.map((side) => startDaemonProcess(side.configFile));
  await sleep(1500);
  for (const side of sides) for (let i = 0; i < 8; i++) await runCli(['--config', side.configFile, 'push', side.file]);
  for (const side of sides) {
    for (;;) {
      const state = JSON.parse(await readFile(side.spool.state, 'utf8').catch(() => '{"jobs":[]}')) as StateFile;
      if (state.jobs.filter((job) => job.state === 'running' && job.container_id).length === 8) break;
      await sleep(100);
    }
  }
  await sleep(2000); // the starts' own work done
  const before = await Promise.all(daemons.map((daemon) => cpuMsOf(daemon.child.pid!)));
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const after = await Promise.all(daemons.map((daemon) => cpuMsOf(daemon.child.pid!)));
  const elapsed = performance.now() - t0;
  const percent = after.map((ms, i) => ((ms - before[i]!) / elapsed) * 100);
  const sampled = JSON.parse(await readFile(sides[0]!.spool.state, 'utf8')) as StateFile;
  await Promise.all(daemons.map((daemon) => daemon.stop()));
  for (const side of sides) {
    for (const c of await docker.listContainers({ all: true, filters: { label: [side.label] } }))
      await docker.getContainer(c.Id).remove({ force: true });
    await rm(side.dir, { recursive: true, force: true });
  }
  return { seconds: elapsed / 1000, on: percent[0]!, off: percent[1]!, withUsage: sampled.jobs.filter((job) => job.usage).length };
}

// BENCH_ONLY=build,q (of build, dispatch, eight, intake, array, q, telemetry) runs only those.
const only = process.env['BENCH_ONLY']?.split(',');
const wanted = (name: string) => !only || only.includes(name);

if (wanted('build')) {
  const build = await benchBuild();
  console.log('build of a small context (Dockerfile + 200 files of 4 kB, cache busted each round), 5 rounds:');
  console.log(`  dopq (push -> image built, job ready):  median ${fmt(quantile(build.dopq, 0.5))}, max ${fmt(Math.max(...build.dopq))}`);
  console.log(`  docker build of the same folder:        median ${fmt(quantile(build.raw, 0.5))}, max ${fmt(Math.max(...build.raw))}`);
  console.log(
    `    ratio ${(median(build.dopq) / median(build.raw)).toFixed(2)}x, ${target(median(build.dopq), 1.3 * median(build.raw) + 100, '1.3x docker build + 100 ms')}`,
  );
}
if (wanted('dispatch')) {
  const dispatch = await benchDispatch();
  console.log(`dispatch latency (a job exits -> the next queued job's container starts), ${ROUNDS} rounds, Docker event times:`);
  console.log(
    `  dopq:            median ${fmt(quantile(dispatch.dopq, 0.5))}, p95 ${fmt(quantile(dispatch.dopq, 0.95))}  (n=${dispatch.dopq.length})`,
  );
  console.log(
    `  raw docker run:  median ${fmt(quantile(dispatch.raw, 0.5))}, p95 ${fmt(quantile(dispatch.raw, 0.95))}  (n=${dispatch.raw.length}, sequential CLI loop)`,
  );
}
if (wanted('eight')) {
  const eight = await benchEightJobs();
  console.log('8 one-GPU jobs on 8 free GPUs, from the first push until all 8 containers run:');
  console.log(`  dopq:            ${fmt(eight.dopqAllRunning)} (the 8 parallel pushes returned after ${fmt(eight.pushesDone)})`);
  console.log(`  raw docker run:  ${fmt(eight.rawAllRunning)} (8 parallel docker run -d)`);
}
if (wanted('intake')) {
  const intake = await benchIntake();
  console.log('intake latency, 10 pushes to a running daemon:');
  beside('dopq push (CLI wall time):      ', intake.pushTimes, intake.baseline);
  console.log(
    `  push started -> queued in state:  median ${fmt(quantile(intake.queuedTimes, 0.5))}, p95 ${fmt(quantile(intake.queuedTimes, 0.95))}`,
  );
}
if (wanted('array')) {
  const result = await benchArray();
  console.log('push of a 1,000-task array beside a single push (5 rounds each, a running daemon, queue paused):');
  beside('dopq push (one job):            ', result.single, result.baseline);
  beside('dopq push --array 0-999:        ', result.array, result.baseline);
  console.log(
    `  array push started -> 1,000 tasks in state:  median ${fmt(quantile(result.queued, 0.5))}, max ${fmt(Math.max(...result.queued))}`,
  );
}
if (wanted('q')) {
  const q = await benchQueue10k();
  console.log('dopq q --json with 10,000 queued jobs (wall time of the CLI):');
  beside('daemon running:                 ', q.withDaemon.times, q.withDaemon.baseline);
  beside('no daemon:                      ', q.withoutDaemon.times, q.withoutDaemon.baseline);
}
if (wanted('telemetry')) {
  const result = await benchTelemetry();
  console.log(`daemon CPU with 8 running jobs, two daemons side by side for ${result.seconds.toFixed(0)} s (/proc/<pid>/stat):`);
  console.log(`  telemetry on (interval 10s, ${result.withUsage}/8 jobs sampled): ${result.on.toFixed(2)} % of one core`);
  console.log(`  telemetry off:                              ${result.off.toFixed(2)} % of one core`);
  console.log(
    `    on - off: ${(result.on - result.off).toFixed(2)} points, ${target(result.on, 1, 'telemetry on, 1 % of one core').replaceAll(' ms', ' %')}`,
  );
}
