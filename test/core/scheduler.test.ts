import test from 'ava';
import fc from 'fast-check';
import { classicPenalties, shareOf } from '../../src/core/schedule/policy.js';
import type { QueuedJob } from '../../src/core/schedule/queue-order.js';
import { blockerOf, decide, heldByUser, usableGpus, type RunningJob, type SchedulerInput } from '../../src/core/schedule/scheduler.js';
import { fairshareInput, gpuIds } from './fixtures.js';

const now = 1_000_000_000;
const H = 3600 * 1000;
const job = (id: number, user: string, gpus: number, extra: Partial<QueuedJob> = {}): QueuedJob => ({
  id,
  user,
  gpus,
  submitted_at: id,
  time_limit: 3600,
  ...extra,
});
const gpus = gpuIds;
const input = (queued: QueuedJob[], extra: Partial<SchedulerInput> = {}): SchedulerInput => fairshareInput(queued, now, 4, extra);
const startedBy = (decisions: { starts: { id: number }[] }, queued: QueuedJob[]) => {
  const counts: Record<string, number> = {};
  for (const s of decisions.starts) {
    const user = queued.find((q) => q.id === s.id)!.user;
    counts[user] = (counts[user] ?? 0) + 1;
  }
  return counts;
};

test('fairshare: users with equal shares and no usage split the free GPUs, whoever queued more', (t) => {
  const queued = [
    ...Array.from({ length: 10 }, (_, i) => job(i + 1, 'alice', 1)),
    ...Array.from({ length: 3 }, (_, i) => job(20 + i, 'bob', 1)),
  ];
  t.deepEqual(startedBy(decide(input(queued)), queued), { alice: 2, bob: 2 });
});

test('fairshare: the user with less decayed usage goes first', (t) => {
  const queued = [job(1, 'alice', 1), job(2, 'alice', 1), job(3, 'bob', 1), job(4, 'bob', 1)];
  const decisions = decide(input(queued, { free: gpus(2), usage: new Map([['alice', 100 * 3600]]) }));
  t.deepEqual(startedBy(decisions, queued), { bob: 2 });
});

test('fairshare: GPUs already held count against their user at once', (t) => {
  const queued = [job(1, 'alice', 1), job(2, 'bob', 1)];
  const running: RunningJob[] = [{ id: 9, user: 'bob', gpus: ['g3'], ends_at: now + H }];
  const decisions = decide(input(queued, { free: ['g0'], running }));
  t.deepEqual(decisions.starts, [{ id: 1, gpus: ['g0'] }]);
});

test('fairshare: a share of 2 gets about twice the GPUs of a share of 1', (t) => {
  const queued = [
    ...Array.from({ length: 10 }, (_, i) => job(i + 1, 'alice', 1)),
    ...Array.from({ length: 10 }, (_, i) => job(20 + i, 'bob', 1)),
  ];
  const decisions = decide(input(queued, { free: gpus(6), shares: new Map([['alice', 2]]) }));
  t.deepEqual(startedBy(decisions, queued), { alice: 4, bob: 2 });
});

test('fifo: submission order, whatever the usage', (t) => {
  const queued = [job(1, 'alice', 1), job(2, 'alice', 1), job(3, 'bob', 1)];
  const decisions = decide(input(queued, { policy: 'fifo', free: gpus(2), usage: new Map([['alice', 1e9]]) }));
  t.deepEqual(
    decisions.starts.map((s) => s.id),
    [1, 2],
  );
});

test("top moves a job ahead of its owner's jobs only", (t) => {
  const queued = [job(1, 'alice', 1), job(2, 'bob', 1), job(3, 'alice', 1, { top_at: now })];
  const decisions = decide(input(queued, { policy: 'fifo', free: gpus(2) }));
  t.deepEqual(
    decisions.starts.map((s) => s.id),
    [3, 2],
    "alice's topped job takes her first place, not bob's",
  );
});

test('EASY: the first job that does not fit gets a reservation; only jobs that end before it may use its GPUs', (t) => {
  const running: RunningJob[] = [{ id: 9, user: 'dan', gpus: ['g0', 'g1'], ends_at: now + H }];
  const queued = [job(1, 'alice', 4), job(2, 'bob', 1, { time_limit: 1800 }), job(3, 'carol', 1, { time_limit: 7200 })];
  const decisions = decide(input(queued, { policy: 'fifo', free: ['g2', 'g3'], running }));
  t.like(decisions.reservation, { id: 1, at: now + H });
  t.deepEqual([...decisions.reservation!.gpus].sort(), ['g0', 'g1', 'g2', 'g3']);
  t.deepEqual(
    decisions.starts.map((s) => s.id),
    [2],
    'the 30-minute job backfills; the 2-hour one would delay the 4-GPU job',
  );
});

test('EASY: a long job may start on a GPU the reservation does not need', (t) => {
  const running: RunningJob[] = [{ id: 9, user: 'dan', gpus: ['g0', 'g1', 'g2'], ends_at: now + H }];
  const queued = [job(1, 'alice', 3), job(2, 'carol', 1, { time_limit: 7200 })];
  const decisions = decide(input(queued, { policy: 'fifo', free: ['g3'], running }));
  t.deepEqual(decisions.reservation, { id: 1, at: now + H, gpus: ['g0', 'g1', 'g2'] });
  t.deepEqual(decisions.starts, [{ id: 2, gpus: ['g3'] }]);
});

test("dopq-classic: nothing passes the first job that does not fit (DoPQ's rule)", (t) => {
  const running: RunningJob[] = [{ id: 9, user: 'dan', gpus: ['g0', 'g1'], ends_at: now + H }];
  const queued = [job(1, 'alice', 4), job(2, 'bob', 1, { time_limit: 60 })];
  const decisions = decide(input(queued, { policy: 'dopq-classic', free: ['g2', 'g3'], running }));
  t.deepEqual(decisions.starts, []);
  t.is(decisions.reservation?.id, 1);
});

test('dopq-classic: penalty is the sum of e^-i over the positions of the user in the history', (t) => {
  const p = classicPenalties(['a', 'b', 'a', 'c'], 3);
  t.is(p.get('a'), 1 + Math.exp(-2));
  t.is(p.get('b'), Math.exp(-1));
  t.false(p.has('c'), 'beyond the history length');
});

test('CPU-only jobs start even when every GPU is taken; nothing starts while paused', (t) => {
  const queued = [job(1, 'a', 1), job(2, 'a', 0)];
  t.deepEqual(decide(input(queued, { free: [] })).starts, [{ id: 2, gpus: [] }]);
  t.deepEqual(decide(input(queued, { paused: true })).starts, []);
});

test('per-user GPU cap: a capped user waits, others start', (t) => {
  const running: RunningJob[] = [{ id: 9, user: 'alice', gpus: ['g0', 'g1'], ends_at: now + H }];
  const queued = [job(1, 'alice', 1), job(2, 'bob', 1)];
  const decisions = decide(input(queued, { policy: 'fifo', free: ['g2', 'g3'], running, max_gpus_per_user: 2 }));
  t.deepEqual(
    decisions.starts.map((s) => s.id),
    [2],
  );
  t.is(blockerOf(queued[0]!, 4, heldByUser(running), 2), 'user-cap');
  t.is(blockerOf(job(5, 'x', 5), 4, new Map(), null), 'too-big');
});

test('shares: own entry, else the largest of the groups, else 1', (t) => {
  const shares = { alice: 3, '%phd': 2, '%staff': 5 };
  t.is(shareOf('alice', ['staff'], shares), 3);
  t.is(shareOf('bob', ['phd', 'staff'], shares), 5);
  t.is(shareOf('carol', ['users'], shares), 1);
});

// --- properties over random passes -------------------------------------------------------------

const USERS = ['a', 'b', 'c', 'd'];
const passArb = fc
  .record({
    policy: fc.constantFrom('fairshare' as const, 'fifo' as const, 'dopq-classic' as const),
    gpuCount: fc.integer({ min: 1, max: 8 }),
    running: fc.array(
      fc.record({ user: fc.constantFrom(...USERS), gpus: fc.integer({ min: 1, max: 3 }), left: fc.integer({ min: 0, max: 20_000 }) }),
      { maxLength: 6 },
    ),
    queued: fc.array(
      fc.record({
        user: fc.constantFrom(...USERS),
        gpus: fc.integer({ min: 0, max: 5 }),
        at: fc.nat(1000),
        limit: fc.integer({ min: 1, max: 20_000 }),
        top: fc.option(fc.nat(100), { nil: undefined }),
      }),
      { maxLength: 25 },
    ),
    usage: fc.record({ a: fc.nat(50_000), b: fc.nat(50_000), c: fc.nat(50_000), d: fc.nat(50_000) }),
    shares: fc.record({ a: fc.integer({ min: 1, max: 4 }), b: fc.integer({ min: 1, max: 4 }) }),
    cap: fc.option(fc.integer({ min: 1, max: 6 }), { nil: null }),
  })
  .map((r) => {
    const all = gpus(r.gpuCount);
    const running: RunningJob[] = [];
    let next = 0;
    r.running.forEach((run, i) => {
      if (next + run.gpus > all.length) return;
      running.push({ id: 1000 + i, user: run.user, gpus: all.slice(next, next + run.gpus), ends_at: now + run.left * 1000 });
      next += run.gpus;
    });
    const queued = r.queued.map((q, i) =>
      job(i + 1, q.user, q.gpus, { submitted_at: q.at, time_limit: q.limit, ...(q.top !== undefined ? { top_at: q.top } : {}) }),
    );
    return {
      queued,
      input: input(queued, {
        policy: r.policy,
        free: all.slice(next),
        running,
        usage: new Map(Object.entries(r.usage)),
        shares: new Map(Object.entries(r.shares)),
        max_gpus_per_user: r.cap,
      }),
    };
  });

test('property: no GPU is handed out twice or while held, each start gets what it asked for', (t) => {
  fc.assert(
    fc.property(passArb, ({ queued, input: i }) => {
      const { starts } = decide(i);
      const handed = starts.flatMap((s) => s.gpus);
      const held = new Set(i.running.flatMap((r) => r.gpus));
      return (
        new Set(handed).size === handed.length &&
        handed.every((g) => i.free.includes(g) && !held.has(g)) &&
        starts.every((s) => queued.find((q) => q.id === s.id)!.gpus === s.gpus.length)
      );
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test('property (fairshare, fifo): no free GPU idles while a job that fits and keeps off the reservation waits', (t) => {
  fc.assert(
    fc.property(
      passArb.filter((p) => p.input.policy !== 'dopq-classic'),
      ({ queued, input: i }) => {
        const { starts, reservation } = decide(i);
        const started = new Set(starts.map((s) => s.id));
        const taken = new Set(starts.flatMap((s) => s.gpus));
        const freeAfter = i.free.filter((g) => !taken.has(g));
        const held = heldByUser([...i.running, ...starts.map((s) => ({ user: queued.find((q) => q.id === s.id)!.user, gpus: s.gpus }))]);
        const usable = i.free.length + i.running.reduce((n, r) => n + r.gpus.length, 0);
        const reserved = new Set(reservation?.gpus ?? []);
        for (const q of queued) {
          if (started.has(q.id) || blockerOf(q, usable, held, i.max_gpus_per_user) !== null) continue;
          if (q.gpus > freeAfter.length) continue;
          if (!reservation || q.id === reservation.id) return false;
          const endsBefore = now + q.time_limit * 1000 <= reservation.at;
          if (endsBefore || freeAfter.filter((g) => !reserved.has(g)).length >= q.gpus) return false;
        }
        return true;
      },
    ),
    { numRuns: 500 },
  );
  t.pass();
});

test('property: a backfilled job never delays the reservation: its GPUs are all free by then', (t) => {
  fc.assert(
    fc.property(passArb, ({ queued, input: i }) => {
      const { starts, reservation } = decide(i);
      if (!reservation) return true;
      const endOf = new Map<string, number>();
      for (const r of i.running) for (const g of r.gpus) endOf.set(g, r.ends_at);
      for (const s of starts) for (const g of s.gpus) endOf.set(g, now + queued.find((q) => q.id === s.id)!.time_limit * 1000);
      const needed = queued.find((q) => q.id === reservation.id)!.gpus;
      return (
        reservation.gpus.length === needed &&
        new Set(reservation.gpus).size === needed &&
        reservation.gpus.every((g) => (endOf.get(g) ?? now) <= reservation.at)
      );
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test('property: the same input gives the same decisions, in whatever order users are listed', (t) => {
  fc.assert(
    fc.property(passArb, ({ input: i }) => {
      const reversed = { ...i, queues: new Map([...i.queues].reverse()) };
      return JSON.stringify(decide(i)) === JSON.stringify(decide(i)) && JSON.stringify(decide(i)) === JSON.stringify(decide(reversed));
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('a GPU a running job holds that left the inventory (a reload removed it) is never counted on, nor reserved', (t) => {
  const running: RunningJob[] = [{ id: 9, user: 'dan', gpus: ['g1'], ends_at: now + H }];
  const queued = [job(1, 'alice', 2), job(2, 'bob', 1, { time_limit: 7200 })];
  const decisions = decide(input(queued, { policy: 'fifo', free: ['g0'], running, retired: ['g1'] }));
  t.is(blockerOf(queued[0]!, usableGpus({ free: ['g0'], running, retired: ['g1'] }), new Map(), null), 'too-big');
  t.is(decisions.reservation, null, 'no reservation waits for g1, which never comes back');
  t.deepEqual(decisions.starts, [{ id: 2, gpus: ['g0'] }], 'so the long job is not kept off g0');
  const without = decide(input(queued, { policy: 'fifo', free: ['g0'], running }));
  t.like(without.reservation, { id: 1, gpus: ['g1', 'g0'] }, 'while g1 is in the inventory, it is');
});
