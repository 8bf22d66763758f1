// The engine goes away under the real daemon loop (engine in memory): nothing is blamed on a
// job, what was pushed meanwhile waits and starts once the engine answers, and a container the
// engine killed as it restarted runs again as attempt 2.
import test from 'ava';
import { startInMemoryDaemon, type InMemoryDaemon } from './in-memory-daemon.js';

async function engineSeenAs(d: InMemoryDaemon, reachable: boolean): Promise<void> {
  await d.waitFor(`the saved state to say the engine is ${reachable ? '' : 'un'}reachable`, async () => {
    return (await d.state()).daemon?.engine?.reachable === reachable;
  });
}

test('the engine unreachable, then back: nothing fails, and jobs pushed meanwhile start after', async (t) => {
  const d = await startInMemoryDaemon(t);
  const before = await d.push({ name: 'before' });
  await d.engine.called('startCreated', before);
  d.engine.exit(before, 0);
  t.is((await d.waitForJob(before, ['done', 'failed'])).state, 'done');

  d.engine.goDown();
  await engineSeenAs(d, false);
  const during = [await d.push({ name: 'during-a' }), await d.push({ name: 'during-b' })];
  for (const id of during) await d.waitForJob(id, ['queued']);
  const probes = d.engine.calls.filter((call) => call.method === 'ping').length;
  await d.waitFor(
    'the daemon to probe the engine again',
    async () => d.engine.calls.filter((call) => call.method === 'ping').length > probes,
  );
  for (const id of during) t.is((await d.job(id))?.state, 'queued', `job ${id} waits, not failed`);
  t.false(
    d.engine.calls.some((call) => during.includes(call.jobId ?? 0)),
    'nothing is tried for a job while the engine is away',
  );

  await d.engine.comeBack(false);
  for (const id of during) await d.engine.called('startCreated', id);
  for (const id of during) d.engine.exit(id, 0);
  for (const id of during) {
    const job = await d.waitForJob(id, ['done', 'failed']);
    t.is(job.state, 'done', job.message ?? '');
    t.is(job.attempt ?? 1, 1, 'an engine that could not be reached is no attempt');
  }
  await engineSeenAs(d, true);
});

test('a container killed while the engine restarts is queued again and runs as attempt 2', async (t) => {
  const d = await startInMemoryDaemon(t);
  const id = await d.push({ name: 'long' });
  await d.engine.called('startCreated', id);
  await d.waitFor('the start to be saved', async () => (await d.job(id))?.engine_started_at !== undefined);

  d.engine.restart();
  await engineSeenAs(d, false);
  await d.engine.comeBack(true);
  await d.engine.called('startCreated', id, 2);
  const again = await d.waitFor('attempt 2 to run', async () => {
    const job = await d.job(id);
    return job?.state === 'running' && job.attempt === 2 && job.container_id ? job : undefined;
  });
  t.is(again.attempt, 2);
  d.engine.exit(id, 0);
  const done = await d.waitForJob(id, ['done', 'failed', 'cancelled']);
  t.is(done.state, 'done', done.message ?? '');
  t.is(done.attempt, 2);
  t.false(
    d.log.some((line) => / lost|failed: /.test(line) && line.includes(`[job ${id}]`)),
    'never lost or failed',
  );
});
