import test from 'ava';
import type { JobRecord } from '../../src/core/job/job.js';
import { buildQueueView, type ViewOptions } from '../../src/core/view/queue-view.js';
import type { StateFile } from '../../src/core/state.js';
import { renderQueue } from '../../src/core/view/render.js';
import { staticInventory } from '../../src/core/schedule/gpus.js';
import { testConfig } from './fixtures.js';

const now = Date.parse('2026-11-28T12:00:00Z');
const base = { uid: 1000, image: 'img', gpus: [] as string[], time_limit: 3600 };
const jobs: JobRecord[] = [
  {
    ...base,
    id: 1,
    user: 'alice',
    name: 'train',
    gpus_requested: 2,
    gpus: ['0', '1'],
    state: 'running',
    submitted_at: now - 7200_000,
    started_at: now - 3600_000,
  },
  { ...base, id: 2, user: 'alice', name: 'eval', gpus_requested: 1, state: 'queued', submitted_at: now - 600_000 },
  { ...base, id: 3, user: 'bob', name: 'sweep', gpus_requested: 1, state: 'queued', submitted_at: now - 300_000 },
  {
    ...base,
    id: 4,
    user: 'bob',
    name: 'old',
    gpus_requested: 1,
    gpus: ['2'],
    state: 'done',
    submitted_at: now - 3 * 86400_000,
    started_at: now - 2 * 86400_000 - 600_000,
    finished_at: now - 2 * 86400_000,
    exit_code: 0,
    reason: 'exited',
  },
  {
    ...base,
    id: 5,
    user: 'carol',
    name: 'oops',
    gpus_requested: 1,
    gpus: ['2'],
    state: 'failed',
    submitted_at: now - 100_000,
    started_at: now - 90_000,
    finished_at: now - 80_000,
    exit_code: 137,
    reason: 'time-limit',
  },
];
const opts = (extra: Partial<ViewOptions> = {}): ViewOptions => ({
  now,
  config: testConfig(),
  shares: new Map(),
  daemonAlive: true,
  all: false,
  ...extra,
});
const state: StateFile = {
  version: 1,
  jobs,
  gpus: staticInventory(['0', '1', '2']),
  daemon: { pid: 42, started_at: now - 86400_000, host: 'gpu1', heartbeat_at: now },
};

test('queued jobs are numbered in start order: lower penalty first', (t) => {
  const view = buildQueueView(state, [], opts());
  const position = (id: number) => view.jobs.find((j) => j.id === id)?.position;
  t.is(position(3), 1, 'bob has less recent usage than alice');
  t.is(position(2), 2);
  t.is(position(1), null);
  t.is(view.gpus_free, 1);
  t.deepEqual(
    view.gpus.map((g) => g.state),
    ['held', 'held', 'free'],
  );
});

test('finished jobs of the last 24h only, unless all', (t) => {
  const recent = buildQueueView(state, [], opts());
  t.false(recent.jobs.some((j) => j.id === 4));
  t.true(recent.jobs.some((j) => j.id === 5));
  const all = buildQueueView(state, [], opts({ all: true }));
  t.true(all.jobs.some((j) => j.id === 4));
});

test('jobs still in the intake are queued, ordered with the rest', (t) => {
  const view = buildQueueView(state, [{ id: 9, user: 'dave', uid: 1003, submitted_at: now - 1000 }], opts({ daemonAlive: false }));
  const pending = view.jobs.find((j) => j.id === 9)!;
  t.is(pending.state, 'queued');
  t.is(pending.position, 1, 'dave has no usage');
  t.false(view.daemon.running);
});

test('users: penalty in GPU-hours, running and queued counts', (t) => {
  const view = buildQueueView(state, [], opts({ config: testConfig('penalty: {half_life: 100000w}') }));
  const alice = view.users.find((u) => u.user === 'alice')!;
  t.true(Math.abs(alice.usage_gpu_hours - 2) < 1e-3, 'two GPUs for one hour');
  t.true(Math.abs(alice.penalty! - 2) < 1e-3, 'share 1: penalty = usage');
  t.like(alice, { running: 1, queued: 1, gpus_held: 2 });
});

test('tables: every pane, no escape codes at colour level 0, colour at level 1', (t) => {
  const view = buildQueueView(state, [], opts());
  const plain = renderQueue(view, { now, colorLevel: 0 });
  for (const heading of ['Daemon', 'GPUs', 'Running', 'Queued', 'Finished', 'Users']) t.regex(plain, new RegExp(`^${heading}`, 'm'));
  t.notRegex(plain, /\u001b\[/);
  t.regex(plain, /1\/3 free/);
  t.regex(plain, /failed \(time-limit\)/);
  t.regex(renderQueue(view, { now, colorLevel: 1 }), /\u001b\[/);
});

test('estimated start: now for a job that starts this pass, the reservation time for the first that does not fit', (t) => {
  const big: JobRecord = { ...base, id: 6, user: 'dave', name: 'big', gpus_requested: 3, state: 'queued', submitted_at: now - 50_000 };
  const view = buildQueueView({ ...state, jobs: [...jobs, big] }, [], opts());
  const job = (id: number) => view.jobs.find((j) => j.id === id)!;
  // GPUs 0,1 are held by job 1 until its time limit (1h after its start: now); GPU 2 is free.
  t.is(view.reservation?.job, 6, 'the 3-GPU job waits for job 1, with a reservation');
  t.is(job(6).estimated_start, view.reservation!.at);
  t.is(job(6).waiting_for, 'reserved');
  const starting = [job(2), job(3)].filter((j) => j.estimated_start === new Date(now).toISOString());
  t.is(starting.length, 0, 'one free GPU, reserved for the big job: 1h jobs would delay it');
  t.true([job(2), job(3)].every((j) => Date.parse(j.estimated_start!) >= Date.parse(view.reservation!.at)));
});

test('held and paused jobs have no estimate and say why', (t) => {
  const held = jobs.map((j) => (j.id === 2 ? { ...j, held_by: 'alice' } : j));
  const view = buildQueueView({ ...state, jobs: held, paused: { by: 'root', at: now } }, [], opts());
  t.like(
    view.jobs.find((j) => j.id === 2),
    { waiting_for: 'held', estimated_start: null, position: null, held_by: 'alice' },
  );
  t.like(
    view.jobs.find((j) => j.id === 3),
    { waiting_for: 'paused', estimated_start: null },
  );
  t.like(view.paused, { by: 'root' });
  t.regex(renderQueue(view, { now, colorLevel: 0 }), /paused by root/);
});

test('before the daemon first wrote the state: the config GPUs, estimates from them, nothing "too big"', (t) => {
  const empty: StateFile = { version: 1, jobs: [], gpus: [], daemon: null };
  const pending = [
    { id: 7, user: 'alice', uid: 1000, submitted_at: now - 2000, name: 'two', gpus_requested: 2 },
    { id: 8, user: 'bob', uid: 1001, submitted_at: now - 1000 }, // another user's file: GPUs unknown
  ];
  const view = buildQueueView(empty, pending, opts({ daemonAlive: false, noStateYet: true }));
  t.is(view.gpus_source, 'config');
  t.like(view, { gpus_free: 4, gpus_total: 4 });
  for (const id of [7, 8])
    t.like(
      view.jobs.find((j) => j.id === id),
      { estimated_start: new Date(now).toISOString(), waiting_for: null },
    );
  t.is(view.jobs.find((j) => j.id === 8)!.gpus_requested, 0, 'shown as unknown, planned as the default');
  t.regex(renderQueue(view, { now, colorLevel: 0 }), /^GPUs {4}4\/4 free {2}\[0:free 1:free 2:free 3:free\] \(the config's list/m);

  const auto = buildQueueView(empty, pending, opts({ daemonAlive: false, noStateYet: true, config: { ...testConfig(), gpus: 'auto' } }));
  t.is(auto.gpus_source, 'unknown');
  t.is(auto.reservation, null);
  for (const id of [7, 8])
    t.like(
      auto.jobs.find((j) => j.id === id),
      { estimated_start: null, waiting_for: null },
    );
  const drawn = renderQueue(auto, { now, colorLevel: 0 });
  t.regex(drawn, /^GPUs {4}unknown until the daemon runs \(gpus: auto\)$/m);
  t.notRegex(drawn, /more GPUs than usable/);

  const afterPass = buildQueueView({ ...empty, gpus: staticInventory(['0', '1']) }, pending, opts({ noStateYet: false }));
  t.is(afterPass.gpus_source, 'daemon', "once the daemon wrote the state, its GPUs, not the config's");
  t.is(afterPass.gpus_total, 2);
});
