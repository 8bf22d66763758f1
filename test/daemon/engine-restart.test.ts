// The engine goes away and comes back (issue 11): jobs it killed run again as their next
// attempt, nothing is blamed on a job, pushes made meanwhile wait, and q says what is going on.
// On a private engine (scripts/chaos-engine.sh), so that the suite's shared one never restarts.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import Docker from 'dockerode';
import { makeSpool } from '../helpers/spool.js';
import { alice, bob } from '../helpers/users.js';

const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../scripts/chaos-engine.sh');
const engine = (action: string, dir: string) => execFileSync('bash', [script, action, dir], { stdio: 'pipe', timeout: 120_000 });

async function privateEngine(t: {
  teardown(fn: () => Promise<void>): void;
}): Promise<{ dir: string; docker: Docker; config: Record<string, unknown> }> {
  // Short: a unix socket path has room for about 100 characters.
  const dir = await mkdtemp('/tmp/dopq-eng-');
  engine('start', dir);
  t.teardown(async () => {
    engine('stop', dir);
    await rm(dir, { recursive: true, force: true });
  });
  return {
    dir,
    docker: new Docker({ socketPath: `${dir}/docker.sock` }),
    config: { docker: { socket: `${dir}/docker.sock`, pidfile: `${dir}/docker.pid` } },
  };
}

test('an engine restart kills a running job: it runs again as attempt 2 and ends done, never failed or lost', async (t) => {
  const eng = await privateEngine(t);
  const spool = await makeSpool(t, { gpus: [0, 1], ...eng.config });
  const gate = spool.gate('after-restart');
  const daemon = spool.startDaemon();
  const id = await spool.push(
    { name: 'long', command: `echo attempt-start; ${gate.wait}; echo finished`, mounts: gate.mounts, gpus: 1 },
    alice(),
  );
  await spool.waitForJob(id, ['running']);
  const starts = async () => (await eng.docker.listContainers({ all: true })).length;
  engine('restart', eng.dir);
  const again = await spool.waitFor(
    'the second attempt to run',
    async () => {
      const job = await spool.job(id);
      return job?.state === 'running' && job.attempt === 2 ? job : undefined;
    },
    90_000,
  );
  t.is(again.attempt, 2);
  t.true((await starts()) >= 1);
  await gate.open();
  const done = await spool.waitForJob(id, ['done', 'failed', 'cancelled'], 60_000);
  t.is(done.state, 'done', done.message ?? '');
  t.is(done.attempt, 2);
  t.regex((await spool.cli(['q'])).stdout, /long \(attempt 2\)/);
  t.is(daemon.child.exitCode, null);
  await daemon.stop();
});

test('while the engine is down nothing fails: pushes wait, q says the engine is unreachable, and all run once it is back', async (t) => {
  const eng = await privateEngine(t);
  const spool = await makeSpool(t, { gpus: [0, 1], ...eng.config, reconcile_interval: '1s' });
  const daemon = spool.startDaemon();
  const first = await spool.push({ name: 'before', command: 'true', gpus: 1 }, alice());
  t.is((await spool.waitForJob(first, ['done', 'failed'])).state, 'done');
  engine('stop', eng.dir);
  const during = [
    await spool.push({ name: 'during-a', command: 'echo ran', gpus: 1 }, alice()),
    await spool.push({ name: 'during-b', command: 'echo ran', gpus: 1 }, bob()),
  ];
  const view = await spool.waitFor(
    'q to say the engine is away',
    async () => {
      const q = await spool.q();
      return q.daemon.engine?.reachable === false ? q : undefined;
    },
    30_000,
  );
  t.truthy(view.daemon.engine?.since);
  t.regex((await spool.cli(['q'])).stdout, /Engine\s+unreachable since/);
  await new Promise((resolve) => setTimeout(resolve, 3000));
  for (const id of during) t.is((await spool.job(id))?.state, 'queued', `job ${id} waits, not failed`);
  engine('start', eng.dir);
  for (const id of during) {
    const job = await spool.waitForJob(id, ['done', 'failed'], 60_000);
    t.is(job.state, 'done', job.message ?? '');
    t.is(job.attempt, 1, 'an engine that could not be reached is no attempt');
  }
  t.is((await spool.q()).daemon.engine?.reachable, true);
  t.is(daemon.child.exitCode, null);
  await daemon.stop();
});
