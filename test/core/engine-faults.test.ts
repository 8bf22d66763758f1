import test from 'ava';
import { classifyEngineError, killedByEngineRestart, type FaultKind } from '../../src/core/engine-faults.js';
import { afterEngineRestart, afterHostFault, type JobRecord } from '../../src/core/job/job.js';

const cases: [string, { code?: string; statusCode?: number; message: string }, FaultKind][] = [
  ['socket missing', { code: 'ENOENT', message: 'connect ENOENT /var/run/docker.sock' }, 'unreachable'],
  ['refused', { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }, 'unreachable'],
  ['reset', { code: 'ECONNRESET', message: 'read ECONNRESET' }, 'unreachable'],
  ['hang up', { message: 'socket hang up' }, 'unreachable'],
  ['a gateway', { statusCode: 502, message: 'bad gateway' }, 'unreachable'],
  [
    'an engine stopping',
    { statusCode: 500, message: 'failed to update store for object type *libnetwork.endpoint: open : no such file or directory' },
    'unreachable',
  ],
  ['no nvidia runtime', { statusCode: 500, message: 'could not select device driver "nvidia" with capabilities: [[gpu]]' }, 'host'],
  ['disk full', { statusCode: 500, message: 'mkdir /var/lib/docker/overlay2/x: no space left on device' }, 'host'],
  ['an unexplained 500', { statusCode: 500, message: 'something odd happened' }, 'host'],
  [
    'a missing command',
    {
      statusCode: 400,
      message: 'failed to create shim: OCI runtime create failed: exec: "trian.py": executable file not found in $PATH: unknown',
    },
    'job',
  ],
  ['a bad spec', { statusCode: 400, message: 'invalid mount config for type "bind": bind source path does not exist' }, 'job'],
  ['no such image', { statusCode: 404, message: 'No such image: x:1' }, 'job'],
];
for (const [what, error, kind] of cases) test(`classify: ${what} is the ${kind}'s`, (t) => t.is(classifyEngineError(error), kind));

const job = { started_at: 1_000_000, engine_started_at: 900_000 };
const killed = (finishedAt: number, exitCode: number | null = 143) => ({ exitCode, oomKilled: false, finishedAt });

test('a container killed by a signal before a newer engine started was killed by the restart', (t) => {
  t.true(killedByEngineRestart(job, killed(1_050_000), { startedAt: 1_060_000, outages: [] }));
  t.true(killedByEngineRestart(job, killed(1_050_000, 137), { startedAt: 1_060_000, outages: [] }));
});

test("an exit of its own, an OOM kill or dopq's own stop is never the restart's", (t) => {
  const engine = { startedAt: 1_060_000, outages: [] };
  t.false(killedByEngineRestart(job, killed(1_050_000, 0), engine));
  t.false(killedByEngineRestart(job, killed(1_050_000, 3), engine));
  t.false(killedByEngineRestart(job, { exitCode: 137, oomKilled: true, finishedAt: 1_050_000 }, engine));
  t.false(killedByEngineRestart({ ...job, stopping: 'cancelled' }, killed(1_050_000), engine));
});

test('an outage this daemon saw explains a kill without a pid file; an unexplained kill is unsure', (t) => {
  const noPidfile = { started_at: 1_000_000 };
  t.true(killedByEngineRestart(noPidfile, killed(1_050_000), { outages: [{ from: 1_055_000, to: 1_070_000 }] }));
  t.is(killedByEngineRestart(noPidfile, killed(1_050_000), { outages: [] }), 'unsure');
  t.is(
    killedByEngineRestart(job, killed(1_050_000), { startedAt: 900_000, outages: [] }),
    'unsure',
    'the same engine: maybe someone ran docker kill',
  );
  t.is(
    killedByEngineRestart(noPidfile, killed(1_050_000), { outages: [{ from: 500_000, to: 600_000 }] }),
    'unsure',
    'an old outage explains nothing',
  );
});

const running: JobRecord = {
  id: 7,
  user: 'a',
  uid: 1,
  name: 'n',
  image: 'i',
  gpus_requested: 1,
  gpus: ['0'],
  state: 'running',
  submitted_at: 1,
  started_at: 1_000_000,
  time_limit: 60,
  container_id: 'c1',
  engine_started_at: 900_000,
};

test('after an engine restart the job is queued again as its next attempt, holding nothing, or fails when it opted out', (t) => {
  const again = afterEngineRestart(running, true, killed(1_050_000), 1_070_000);
  t.is(again.state, 'queued');
  t.is(again.attempt, 2);
  t.deepEqual(again.gpus, []);
  t.is(again.container_id, undefined);
  t.is(again.started_at, undefined);
  t.is(afterEngineRestart(again, true, killed(1_050_000), 1_070_000).attempt, 3);
  const failed = afterEngineRestart(running, false, killed(1_050_000), 1_070_000);
  t.is(failed.state, 'failed');
  t.is(failed.reason, 'engine-restart');
});

test('host faults queue the job again, then hold it with the reason after start_retries in a row', (t) => {
  const first = afterHostFault(running, 'no driver', 3);
  t.is(first.state, 'queued');
  t.is(first.held_by, undefined);
  const third = afterHostFault(afterHostFault(first, 'no driver', 3), 'no driver', 3);
  t.is(third.held_by, 'dopq');
  t.is(third.start_failures, 3);
  t.regex(third.message ?? '', /held after 3 failed starts/);
  t.notRegex(third.state, /failed/);
});
