import test from 'ava';
import type { JobRecord } from '../../src/core/job.js';
import { buildQueueView, type StateFile } from '../../src/core/queue-view.js';
import { renderQueue } from '../../src/core/render.js';
import { staticInventory } from '../../src/core/gpus.js';

const now = Date.parse('2026-11-28T12:00:00Z');
const base = { uid: 1000, image: 'img', gpus: [] as string[], time_limit: 3600 };
const jobs: JobRecord[] = [
  { ...base, id: 1, user: 'alice', name: 'train', gpus_requested: 2, gpus: ['0', '1'], state: 'running', submitted_at: now - 7200_000, started_at: now - 3600_000 },
  { ...base, id: 2, user: 'alice', name: 'eval', gpus_requested: 1, state: 'queued', submitted_at: now - 600_000 },
  { ...base, id: 3, user: 'bob', name: 'sweep', gpus_requested: 1, state: 'queued', submitted_at: now - 300_000 },
  { ...base, id: 4, user: 'bob', name: 'old', gpus_requested: 1, gpus: ['2'], state: 'done', submitted_at: now - 3 * 86400_000, started_at: now - 2 * 86400_000 - 600_000, finished_at: now - 2 * 86400_000, exit_code: 0, reason: 'exited' },
  { ...base, id: 5, user: 'carol', name: 'oops', gpus_requested: 1, gpus: ['2'], state: 'failed', submitted_at: now - 100_000, started_at: now - 90_000, finished_at: now - 80_000, exit_code: 137, reason: 'time-limit' },
];
const state: StateFile = { version: 1, jobs, gpus: staticInventory(['0', '1', '2']), daemon: { pid: 42, started_at: now - 86400_000, host: 'gpu1', heartbeat_at: now } };

test('queued jobs are numbered in start order: lower penalty first', (t) => {
  const view = buildQueueView(state, [], { now, halfLifeSeconds: 7 * 86400, daemonAlive: true, all: false });
  const position = (id: number) => view.jobs.find((j) => j.id === id)?.position;
  t.is(position(3), 1, 'bob has less recent usage than alice');
  t.is(position(2), 2);
  t.is(position(1), null);
  t.is(view.gpus_free, 1);
  t.deepEqual(view.gpus.map((g) => g.state), ['held', 'held', 'free']);
});

test('finished jobs of the last 24h only, unless all', (t) => {
  const recent = buildQueueView(state, [], { now, halfLifeSeconds: 7 * 86400, daemonAlive: true, all: false });
  t.false(recent.jobs.some((j) => j.id === 4));
  t.true(recent.jobs.some((j) => j.id === 5));
  const all = buildQueueView(state, [], { now, halfLifeSeconds: 7 * 86400, daemonAlive: true, all: true });
  t.true(all.jobs.some((j) => j.id === 4));
});

test('jobs still in the intake are queued, ordered with the rest', (t) => {
  const view = buildQueueView(state, [{ id: 9, user: 'dave', uid: 1003, submitted_at: now - 1000 }], { now, halfLifeSeconds: 7 * 86400, daemonAlive: false, all: false });
  const pending = view.jobs.find((j) => j.id === 9)!;
  t.is(pending.state, 'queued');
  t.is(pending.position, 1, 'dave has no usage');
  t.false(view.daemon.running);
});

test('users: penalty in GPU-hours, running and queued counts', (t) => {
  const view = buildQueueView(state, [], { now, halfLifeSeconds: 1e12, daemonAlive: true, all: false });
  const alice = view.users.find((u) => u.user === 'alice')!;
  t.true(Math.abs(alice.penalty_gpu_hours - 2) < 1e-3, 'two GPUs for one hour');
  t.like(alice, { running: 1, queued: 1, gpus_held: 2 });
});

test('tables: every pane, no escape codes at colour level 0, colour at level 1', (t) => {
  const view = buildQueueView(state, [], { now, halfLifeSeconds: 7 * 86400, daemonAlive: true, all: false });
  const plain = renderQueue(view, { now, colorLevel: 0 });
  for (const heading of ['Daemon', 'GPUs', 'Running', 'Queued', 'Finished', 'Users']) t.regex(plain, new RegExp(`^${heading}`, 'm'));
  t.notRegex(plain, /\u001b\[/);
  t.regex(plain, /1\/3 free/);
  t.regex(plain, /failed \(time-limit\)/);
  t.regex(renderQueue(view, { now, colorLevel: 1 }), /\u001b\[/);
});
