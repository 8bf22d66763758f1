// The web dashboard's 24 h series: a point from the GPUs and the running jobs, read back skipping
// torn lines and points outside the window.
import test from 'ava';
import { historyPoint, HISTORY_WINDOW_MS, parseHistory } from '../../src/core/view/usage-history.js';
import type { JobRecord } from '../../src/core/job/job.js';

const job = (fields: Partial<JobRecord>): JobRecord => ({ id: 1, user: 'alice', state: 'running', gpus: [], ...fields }) as JobRecord;

test('a point: each GPU’s utilization, each user’s running GPUs and their mean utilization', (t) => {
  const inventory = [
    { id: 'a', index: 0, utilization: 90, processes: [] },
    { id: 'b', index: 1, utilization: 10, processes: [] },
    { id: 'c', index: 2, utilization: null, processes: [] },
    { id: 'd', index: 3, processes: [] },
  ];
  const jobs = [
    job({ id: 1, user: 'alice', gpus: ['a', 'b'] }),
    job({ id: 2, user: 'bob', gpus: ['c'] }),
    job({ id: 3, user: 'bob', gpus: ['d'], state: 'done' }),
  ];
  t.deepEqual(historyPoint(1000, inventory, jobs), {
    at: 1000,
    gpus: { a: 90, b: 10, c: null, d: null },
    users: { alice: { gpus: 2, util: 50 }, bob: { gpus: 1, util: null } },
  });
});

test('read back: oldest first, torn or foreign lines and points older than the window skipped', (t) => {
  const now = 10 * HISTORY_WINDOW_MS;
  const point = (at: number) => JSON.stringify({ at, gpus: { a: 1 }, users: { alice: { gpus: 1, util: 1 } } });
  const text = [
    point(now - 1000),
    point(now - HISTORY_WINDOW_MS - 1),
    '{"at": 5, "gpus"',
    JSON.stringify({ at: now - 5000, gpus: 'x', users: {} }),
    point(now - 2000),
    '',
  ].join('\n');
  t.deepEqual(
    parseHistory(text, now).map((p) => p.at),
    [now - 2000, now - 1000],
  );
});
