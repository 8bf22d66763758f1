// Job arguments against a state that holds an array (as the submit side records them): an
// array's id names all its tasks, `17_3` one task, ranges and lists many; rm, hold, wait and
// log read them alike, without a daemon (requests wait in the spool for it).
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { decodeRequest } from '../../src/core/job/envelope.js';
import type { JobRecord } from '../../src/core/job/job.js';
import { staticInventory } from '../../src/core/schedule/gpus.js';
import { createStateWriter, emptyState } from '../../src/io/spool/state-store.js';
import { alice, bob, type UnixUser } from '../helpers/users.js';
import { makeTempSpool, type TempSpool } from '../io/temp-spool.js';

const NOW = Date.now();

function record(id: number, owner: UnixUser, fields: Partial<JobRecord> & { array?: unknown } = {}): JobRecord {
  return {
    id,
    user: owner.name,
    uid: owner.uid,
    name: `job-${id}`,
    image: 'busybox',
    gpus_requested: 1,
    gpus: [],
    state: 'queued',
    submitted_at: NOW - 60_000,
    time_limit: 600,
    ...fields,
  } as JobRecord;
}

/** Array 10 of alice's: tasks 10..13 (indices 0..3) queued, queued, running, done; 14 alice's failed (exit 3); 15 bob's queued. */
async function arrayState(spool: TempSpool): Promise<void> {
  const a = alice();
  const task = (index: number) => ({ array: { id: 10, index, size: 4, throttle: 2 } });
  const writer = createStateWriter(spool.paths.state, (error) => {
    throw error;
  });
  await writer.write({
    ...emptyState(),
    gpus: staticInventory(['0', '1']),
    jobs: [
      record(10, a, task(0)),
      record(11, a, task(1)),
      record(12, a, { ...task(2), state: 'running', gpus: ['0'], started_at: NOW - 30_000 }),
      record(13, a, { ...task(3), state: 'done', reason: 'exited', exit_code: 0, started_at: NOW - 50_000, finished_at: NOW - 40_000 }),
      record(14, a, {
        state: 'failed',
        reason: 'exited',
        exit_code: 3,
        started_at: NOW - 50_000,
        finished_at: NOW - 40_000,
        array: undefined,
      }),
      record(15, bob()),
    ],
  });
}

/** The ids of the requests of `op` dropped so far, in order. */
async function requested(spool: TempSpool, op: string): Promise<number[]> {
  const names = (await readdir(spool.paths.requests)).sort();
  const ids: number[] = [];
  for (const name of names) {
    const request = decodeRequest(await readFile(path.join(spool.paths.requests, name), 'utf8'));
    if ('op' in request && request.op === op && 'ids' in request) ids.push(...request.ids);
  }
  return ids;
}

test("rm of an array's id cancels its unfinished tasks; a task alone; a range refuses another user's job", async (t) => {
  const spool = await makeTempSpool(t);
  await arrayState(spool);
  const a = alice();
  const array = await spool.cli(['rm', '10'], { user: a });
  t.is(array.code, 0, array.stderr);
  t.is(array.stdout, 'cancelled 3 (2 queued, 1 running)\n');
  t.deepEqual(await requested(spool, 'rm'), [10, 11, 12]);

  const one = await spool.cli(['rm', '10_1'], { user: a });
  t.is(one.code, 0, one.stderr);
  t.is(one.stdout, '11: cancelling\n');
  const missing = await spool.cli(['rm', '10_7'], { user: a });
  t.is(missing.code, 66);
  t.regex(missing.stderr, /^dopq: job 10_7: no such task: array 10 has no index 7\n/);
  const finished = await spool.cli(['rm', '10_3'], { user: a });
  t.is(finished.code, 1);
  t.regex(finished.stderr, /^dopq: job 10_3 \(id 13\): already finished \(done\)/);

  const range = await spool.cli(['rm', '13-15,20-30'], { user: a });
  t.is(range.code, 1);
  t.is(range.stdout, 'cancelled 0; refused 1: 1 not yours (dopq-bob)\n');
  t.regex(range.stderr, /^dopq: jobs 20-30: no job has an id in this range\n/);
});

test('hold and release of an array act on its queued tasks; wait and log name tasks too', async (t) => {
  const spool = await makeTempSpool(t);
  await arrayState(spool);
  const a = alice();
  const hold = await spool.cli(['hold', '10'], { user: a });
  t.is(hold.code, 0, hold.stderr);
  t.is(hold.stdout, '10: held\n11: held\n');
  t.deepEqual(await requested(spool, 'hold'), [10, 11]);
  const running = await spool.cli(['hold', '10_2'], { user: a });
  t.is(running.code, 1, 'a task named alone must be queued');
  t.regex(running.stderr, /job 10_2 \(id 12\): is running; only queued jobs can be held/);

  const done = await spool.cli(['wait', '10_3'], { user: bob() });
  t.is(done.code, 0, done.stderr);
  t.is(done.stdout, '13: done\n');
  const both = await spool.cli(['wait', '13,14'], { user: a });
  t.is(both.code, 3);
  t.is(both.stdout, '13: done\n14: failed (exit 3)\n');
  t.is((await spool.cli(['wait', '10_9'], { user: a })).code, 66);
  const log = await spool.cli(['log', '10_3'], { user: a });
  t.is(log.code, 66, 'the task is found; it has no output');
  t.regex(log.stderr, /^dopq: job 13: no output/);
});
