// The report's minimal config on a small host: no cpus in the config, so jobs take the built-in
// default (4), which the daemon lowers to what the engine has instead of every start failing
// with "Range of CPUs is from 0.01 to 2.00".
import test from 'ava';
import { docker, makeSpool } from '../helpers/spool.js';
import { alice } from '../helpers/users.js';

test('without cpus in the config, jobs get the built-in default fitted to the engine, and run', async (t) => {
  const spool = await makeSpool(t, { gpus: [0], defaults: { gpus: 1, memory: '128m', shm: '16m', time_limit: '10m' } });
  const daemon = spool.startDaemon();
  const id = await spool.push({ name: 'fits', command: 'true' }, alice());
  const job = await spool.waitForJob(id, ['done', 'failed']);
  t.is(job.state, 'done', job.message ?? '');
  const ncpu = ((await docker.info()) as { NCPU: number }).NCPU;
  if (ncpu < 4) {
    t.regex(
      daemon.output(),
      new RegExp(`config: defaults\\.cpus: the built-in 4 is more than the engine's ${ncpu} CPUs?; jobs default to ${ncpu}`),
    );
  } else {
    t.notRegex(daemon.output(), /config: defaults\.cpus/, 'an engine with 4 CPUs or more takes the built-in default as it is');
  }
  await daemon.stop();
});
