// The host as a limit in the daemon: a job that asks for more CPUs than this host has is
// refused when it is read, and one that would only get them from a config default above the
// host fails clearly at its start (exceeds-host), never with the engine's "Range of CPUs".
import { availableParallelism } from 'node:os';
import test from 'ava';
import { startInMemoryDaemon } from './in-memory-daemon.js';

const beyond = availableParallelism() + 1;

test('a job asking for more CPUs than this host has is rejected at intake, naming the field and the host figure', async (t) => {
  const d = await startInMemoryDaemon(t, { limits: { cpus: 4096 } });
  const id = await d.push({ name: 'big', cpus: beyond });
  const job = await d.waitForJob(id, ['rejected', 'failed', 'done', 'running']);
  t.is(job.state, 'rejected');
  t.regex(job.message ?? '', new RegExp(`cpus: ${beyond} is more than this host's ${beyond - 1} CPUs`));
  t.false(
    d.engine.calls.some((call) => call.method === 'create'),
    'no container was made for it',
  );
});

test('a job whose default is above the host fails as exceeds-host; the config is named in the log at start', async (t) => {
  const d = await startInMemoryDaemon(t, { defaults: { cpus: beyond }, limits: { cpus: 4096 } });
  const id = await d.push({ name: 'defaulted' });
  const next = await d.push({ name: 'small', cpus: 1 });
  const job = await d.waitForJob(id, ['failed', 'done', 'rejected']);
  t.is(job.reason, 'exceeds-host');
  t.is(job.message, `it asks for ${beyond} CPUs, more than this host's ${beyond - 1} CPUs: it can never start here`);
  t.deepEqual(job.gpus, []);
  t.true(
    d.log.some((line) => line.startsWith(`error config: defaults.cpus (line `) && line.includes(`${beyond} is more than this host's`)),
    d.log.join('\n'),
  );
  await d.engine.called('startCreated', next);
  t.pass('the next job starts');
});
