// A config reload (what SIGHUP does) under the real daemon loop, engine in memory: a valid
// config applies from the next pass (GPUs, limits, shares), an invalid one is refused with its
// errors in the log and the status `q` shows while the old one stays, and running jobs are
// never touched (a job on a GPU that was removed runs on; the GPU is not given out again).
import { chmod, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { encodeRequest } from '../../src/core/job/envelope.js';
import { buildQueueView } from '../../src/core/view/queue-view.js';
import { renderQueue } from '../../src/core/view/render.js';
import { loadConfig } from '../../src/io/files/config-file.js';
import { readDaemonStatus, type ReloadStatus } from '../../src/io/spool/daemon-status.js';
import { startInMemoryDaemon, type InMemoryDaemon } from './in-memory-daemon.js';

function running(d: InMemoryDaemon): Promise<boolean> {
  return d.waitFor('the daemon to run', async () => (await d.state()).daemon !== null);
}

/** Rewrite the config, send the hangup, and return the daemon's answer once the status file holds it. */
async function reload(d: InMemoryDaemon, config: Record<string, unknown> | undefined): Promise<ReloadStatus> {
  // SIGHUP is handled once the daemon runs (systemd sends it only after the start).
  await running(d);
  if (config) await d.writeConfig(config);
  const before = (await readDaemonStatus(d.spool.daemonStatus))?.reload?.at ?? -1;
  d.advance(1); // each answer has a later time than the one before
  d.hangup();
  return d.waitFor('the answer to the reload in the status file', async () => {
    const answer = (await readDaemonStatus(d.spool.daemonStatus))?.reload;
    return answer && answer.at > before ? answer : undefined;
  });
}

/** Resolves after `n` more saved passes: what a pass could have started, it had every chance to. */
async function passes(d: InMemoryDaemon, n = 2): Promise<void> {
  for (let pass = 0; pass < n; pass++) {
    const beat = (await d.state()).daemon?.heartbeat_at ?? 0;
    d.advance(1);
    await d.waitFor('another pass', async () => ((await d.state()).daemon?.heartbeat_at ?? 0) > beat);
  }
}

async function pause(d: InMemoryDaemon, op: 'pause' | 'resume'): Promise<void> {
  const at = Date.now();
  await writeFile(path.join(d.spool.requests, `${String(at).padStart(15, '0')}-${op}.req`), encodeRequest({ op, at }), { mode: 0o600 });
}

test('a reload applies at the next pass: GPUs added, then a per-user limit raised', async (t) => {
  const d = await startInMemoryDaemon(t, { gpus: [0], limits: { per_user: { gpus: 1 } } });
  const first = await d.push({ name: 'first' });
  await d.engine.called('startCreated', first);
  const second = await d.push({ name: 'second' });
  await d.waitForJob(second, ['queued']);

  const added = await reload(d, { gpus: [0, 1], limits: { per_user: { gpus: 1 } } });
  t.true(added.applied);
  t.deepEqual(added.changed, ['gpus']);
  await passes(d);
  t.deepEqual(
    (await d.state()).gpus.map((gpu) => gpu.id),
    ['0', '1'],
  );
  t.is((await d.job(second))?.state, 'queued', 'one GPU per user still: the second waits');

  const raised = await reload(d, { gpus: [0, 1], limits: { per_user: { gpus: 2 } } });
  t.deepEqual(raised.changed, ['limits.per_user.gpus']);
  await d.engine.called('startCreated', second);
  t.deepEqual((await d.job(second))?.gpus, ['1']);
  t.is((await d.job(first))?.state, 'running', 'the running job was not touched');
  t.true(d.log.some((line) => line.includes('config reloaded (SIGHUP)') && line.includes('changed limits.per_user.gpus')));
});

test("a reload applies new shares: the user they favour starts first, where the old ones would start the other's", async (t) => {
  const d = await startInMemoryDaemon(t, { gpus: [0, 1] });
  // nobody uses 2 GPU-hours, root 1: by equal shares, root's job comes first.
  const heavy = await d.push({ name: 'heavy', gpus: 2, time_limit: '2h' }, { uid: 65534 });
  await d.engine.called('startCreated', heavy);
  d.advance(3600_000);
  d.engine.exit(heavy, 0);
  await d.waitForJob(heavy, ['done']);
  const light = await d.push({ name: 'light', gpus: 1, time_limit: '2h' });
  await d.engine.called('startCreated', light);
  d.advance(3600_000);
  d.engine.exit(light, 0);
  await d.waitForJob(light, ['done']);

  await pause(d, 'pause');
  await d.waitFor('the pause', async () => (await d.state()).paused !== null);
  const rootJob = await d.push({ name: 'root-next', gpus: 2 });
  const nobodyJob = await d.push({ name: 'nobody-next', gpus: 2 }, { uid: 65534 });
  await d.waitForJob(rootJob, ['queued']);
  await d.waitForJob(nobodyJob, ['queued']);

  const answer = await reload(d, { gpus: [0, 1], shares: { nobody: 4 } });
  t.deepEqual(answer.changed, ['shares.nobody']);
  await pause(d, 'resume');
  await d.engine.called('startCreated', nobodyJob);
  t.is((await d.job(rootJob))?.state, 'queued', 'with share 4, nobody (2 GPU-hours) goes before root (1)');
});

test('an invalid config is refused: the old one stays, the errors name the file, field and line, and q shows them', async (t) => {
  const valid = { gpus: [0, 1], limits: { per_user: { gpus: 1 } } };
  const d = await startInMemoryDaemon(t, valid);
  await writeFile(d.configFile, 'gpus: [0, 1, 2]\nlimits:\n  per_user:\n    gpus: 2\n  cpus: lots\npolicy: fastest\n');
  const answer = await reload(d, undefined);
  t.false(answer.applied);
  t.true(
    answer.errors.some((error) => error.startsWith(`${d.configFile}: line 5: limits.cpus:`)),
    answer.errors.join('\n'),
  );
  t.true(answer.errors.some((error) => error.includes('line 6: policy:')));
  t.true(d.log.some((line) => line.startsWith('error config reload (SIGHUP) refused; the running config stays in force')));
  t.true(d.log.some((line) => line.startsWith(`error   ${d.configFile}: line 6: policy:`)));

  // The old config (one GPU per user, two GPUs) is in force: of two one-GPU jobs, one runs.
  const first = await d.push({ name: 'first' });
  await d.engine.called('startCreated', first);
  const second = await d.push({ name: 'second' });
  await d.waitForJob(second, ['queued']);
  await passes(d);
  t.is((await d.job(second))?.state, 'queued');
  t.deepEqual(
    (await d.state()).gpus.map((gpu) => gpu.id),
    ['0', '1'],
  );

  // What q draws from the status file (its own config is the valid one it had).
  const state = await d.state();
  const status = await readDaemonStatus(d.spool.daemonStatus);
  const config = await (async () => {
    await d.writeConfig(valid);
    return loadConfig(d.configFile);
  })();
  const view = buildQueueView(state, [], {
    now: Date.now(),
    config,
    shares: new Map(),
    daemonAlive: true,
    all: true,
    ...(status ? { status } : {}),
  });
  t.is(view.daemon.reload?.applied, false);
  const drawn = renderQueue(view, { now: Date.now(), colorLevel: 0 });
  t.regex(drawn, /Config\s+reload refused at .* \(SIGHUP\): .*line 5: limits\.cpus: .*\(and 1 more\); the running config stays/);
});

test('a config others could write is refused as at start, whatever it says', async (t) => {
  const d = await startInMemoryDaemon(t, { gpus: [0] });
  await running(d);
  await d.writeConfig({ gpus: [0, 1] });
  await chmod(d.configFile, 0o666);
  const answer = await reload(d, undefined);
  t.false(answer.applied);
  t.true(
    answer.errors.some((error) => error.includes(`${d.configFile}: has mode 0666, writable by others`)),
    answer.errors.join('\n'),
  );
  await passes(d, 1);
  t.deepEqual(
    (await d.state()).gpus.map((gpu) => gpu.id),
    ['0'],
  );
});

test('the spool cannot change under a running daemon: the rest applies, the spool waits for a restart', async (t) => {
  const d = await startInMemoryDaemon(t, { gpus: [0] });
  const answer = await reload(d, { gpus: [0, 1], spool: './elsewhere' });
  t.true(answer.applied);
  t.deepEqual(answer.changed, ['gpus']);
  t.deepEqual(answer.pending_restart, ['spool']);
  t.true(d.log.some((line) => line.includes('changed but not applied until a restart: spool')));
  const id = await d.push({ name: 'still-here', gpus: 2 });
  await d.engine.called('startCreated', id);
});

test('a running job on a removed GPU keeps running; the GPU is not given out again, and a job that needs it shows so', async (t) => {
  const d = await startInMemoryDaemon(t, { gpus: [0, 1] });
  const onZero = await d.push({ name: 'on-0' });
  await d.engine.called('startCreated', onZero);
  const onOne = await d.push({ name: 'on-1' });
  await d.engine.called('startCreated', onOne);
  t.deepEqual((await d.job(onOne))?.gpus, ['1']);
  const twoGpus = await d.push({ name: 'two', gpus: 2 });
  await d.waitForJob(twoGpus, ['queued']);

  const answer = await reload(d, { gpus: [0] });
  t.true(answer.applied);
  const waiting = await d.push({ name: 'waiting' });
  await d.waitForJob(waiting, ['queued']);
  await passes(d);
  t.is((await d.job(onOne))?.state, 'running', 'not stopped by the reload');
  t.false(d.engine.calls.some((call) => call.method === 'stop'));

  const whileRunning = buildQueueView(await d.state(), [], {
    now: Date.now(),
    config: await loadConfig(d.configFile),
    shares: new Map(),
    daemonAlive: true,
    all: true,
  });
  t.is(whileRunning.jobs.find((job) => job.id === twoGpus)?.waiting_for, 'too-big', 'GPU 1 counts for nothing, though still held');

  // GPU 1 comes back from its job, but not to the queue.
  d.engine.exit(onOne, 0);
  await d.waitForJob(onOne, ['done']);
  await passes(d);
  t.is((await d.job(waiting))?.state, 'queued');
  const state = await d.state();
  t.deepEqual(
    state.gpus.map((gpu) => gpu.id),
    ['0'],
  );
  const config = await loadConfig(d.configFile);
  const view = buildQueueView(state, [], { now: Date.now(), config, shares: new Map(), daemonAlive: true, all: true });
  t.is(view.gpus_total, 1);
  t.is(view.jobs.find((job) => job.id === twoGpus)?.waiting_for, 'too-big', 'q: more GPUs than usable');

  d.engine.exit(onZero, 0);
  await d.engine.called('startCreated', waiting);
  t.deepEqual((await d.job(waiting))?.gpus, ['0']);
  t.deepEqual(d.engine.overlaps, []);
});

test('a reloaded config is fitted to the host as the first was: a job asking for more CPUs than the host is still rejected', async (t) => {
  const beyond = availableParallelism() + 1;
  const d = await startInMemoryDaemon(t, { gpus: [0], limits: { cpus: 4096 } });
  const answer = await reload(d, { gpus: [0, 1], limits: { cpus: 8192 } });
  t.true(answer.applied, answer.errors.join('\n'));
  const id = await d.push({ name: 'big', cpus: beyond });
  const job = await d.waitForJob(id, ['rejected', 'failed', 'done', 'running']);
  t.is(job.state, 'rejected');
  t.regex(job.message ?? '', new RegExp(`cpus: ${beyond} is more than this host's ${beyond - 1} CPUs`));
});
