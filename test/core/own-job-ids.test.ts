// What completion offers after `dopq rm|hold|release|top|log`: the caller's own jobs that the
// command can take, from the state and from job files the daemon has not read yet.
import test from 'ava';
import type { JobRecord } from '../../src/core/job/job.js';
import { isIdCommand, ownJobIds } from '../../src/core/job/own-job-ids.js';

const ALICE = 1001;
const BOB = 1002;
type Job = Pick<JobRecord, 'id' | 'uid' | 'state' | 'held_by'>;
const jobs: Job[] = [
  { id: 1, uid: ALICE, state: 'done' },
  { id: 2, uid: ALICE, state: 'running' },
  { id: 3, uid: ALICE, state: 'queued' },
  { id: 4, uid: ALICE, state: 'queued', held_by: 'dopq-alice' },
  { id: 5, uid: ALICE, state: 'building' },
  { id: 6, uid: ALICE, state: 'rejected' },
  { id: 7, uid: BOB, state: 'queued' },
  { id: 8, uid: BOB, state: 'running' },
];
// 9 is alice's, not read yet; 7 is bob's and already read (a stale listing); 10 is bob's.
const pending = [
  { id: 9, uid: ALICE },
  { id: 7, uid: BOB },
  { id: 10, uid: BOB },
];

test("each command offers only the caller's jobs it can take, pending ones included", (t) => {
  t.deepEqual(ownJobIds('rm', ALICE, jobs, pending), [2, 3, 4, 5, 9]);
  t.deepEqual(ownJobIds('hold', ALICE, jobs, pending), [3, 5, 9]);
  t.deepEqual(ownJobIds('release', ALICE, jobs, pending), [4]);
  t.deepEqual(ownJobIds('top', ALICE, jobs, pending), [3, 4, 5, 9]);
  t.deepEqual(ownJobIds('log', ALICE, jobs, pending), [1, 2, 3, 4, 5, 6, 9]);
  t.deepEqual(ownJobIds('rm', BOB, jobs, pending), [7, 8, 10]);
  t.deepEqual(ownJobIds('log', 0, jobs, pending), []);
});

test('only rm, hold, release, top, log and push (--after) take ids', (t) => {
  for (const command of ['rm', 'hold', 'release', 'top', 'log', 'push']) t.true(isIdCommand(command), command);
  for (const command of ['q', 'toString', '__proto__', 'constructor', '']) t.false(isIdCommand(command), command);
});
