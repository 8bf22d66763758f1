import test from 'ava';
import fc from 'fast-check';
import { chooseBuilds, type BuildCandidate } from '../../src/core/schedule/build-slots.js';

const ALICE = 1001;
const BOB = 1002;
const job = (id: number, uid: number): BuildCandidate => ({ id, uid });

const cases: { title: string; order: BuildCandidate[]; running: number[]; parallel: number; perUser: number; chosen: number[] }[] = [
  {
    title: 'one user with three builds gets one slot; the next user in line gets the other',
    order: [job(1, ALICE), job(2, ALICE), job(3, ALICE), job(4, BOB)],
    running: [],
    parallel: 2,
    perUser: 1,
    chosen: [1, 4],
  },
  {
    title: 'a user whose build runs waits; others take the free slots',
    order: [job(2, ALICE), job(4, BOB)],
    running: [ALICE],
    parallel: 2,
    perUser: 1,
    chosen: [4],
  },
  { title: 'no free global slot: nothing starts', order: [job(4, BOB)], running: [ALICE, ALICE], parallel: 2, perUser: 2, chosen: [] },
  {
    title: 'per-user above parallel: parallel bounds it',
    order: [job(1, ALICE), job(2, ALICE), job(3, ALICE)],
    running: [],
    parallel: 2,
    perUser: 5,
    chosen: [1, 2],
  },
  {
    title: 'per-user 2: two of a user, in order',
    order: [job(1, ALICE), job(2, ALICE), job(3, ALICE), job(4, BOB)],
    running: [],
    parallel: 4,
    perUser: 2,
    chosen: [1, 2, 4],
  },
  { title: 'nothing waiting: nothing starts', order: [], running: [], parallel: 2, perUser: 1, chosen: [] },
  {
    title: 'more running than parallel (config lowered): nothing starts',
    order: [job(5, BOB)],
    running: [ALICE, ALICE, ALICE],
    parallel: 2,
    perUser: 1,
    chosen: [],
  },
];

for (const c of cases) {
  test(c.title, (t) => {
    t.deepEqual(chooseBuilds(c.order, c.running, { parallel: c.parallel, perUser: c.perUser }), c.chosen);
  });
}

const scenario = fc.record({
  uids: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 20 }),
  running: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 6 }),
  parallel: fc.integer({ min: 1, max: 6 }),
  perUser: fc.integer({ min: 1, max: 4 }),
});

function counts(uids: number[]): Map<number, number> {
  const map = new Map<number, number>();
  for (const uid of uids) map.set(uid, (map.get(uid) ?? 0) + 1);
  return map;
}

test('property: never more than parallel in all, nor per-user for one user, counting running builds', (t) => {
  fc.assert(
    fc.property(scenario, ({ uids, running, parallel, perUser }) => {
      const order = uids.map((uid, i) => job(i + 1, uid));
      const chosen = chooseBuilds(order, running, { parallel, perUser });
      const uidOf = new Map(order.map((c) => [c.id, c.uid]));
      const starting = chosen.map((id) => uidOf.get(id)!);
      if (chosen.length > Math.max(0, parallel - running.length)) return false;
      const before = counts(running);
      for (const [uid, n] of counts(starting)) if (n + (before.get(uid) ?? 0) > perUser) return false;
      return true;
    }),
  );
  t.pass();
});

test('property: chosen jobs keep the queue order, and no job is passed over while its user had a free slot', (t) => {
  fc.assert(
    fc.property(scenario, ({ uids, running, parallel, perUser }) => {
      const order = uids.map((uid, i) => job(i + 1, uid));
      const chosen = chooseBuilds(order, running, { parallel, perUser });
      const ids = order.map((c) => c.id);
      // A subsequence of the order: ids rise, since ids here are positions.
      if (chosen.some((id, i) => i > 0 && id <= chosen[i - 1]!)) return false;
      const held = counts(running);
      let total = running.length;
      const picked = new Set(chosen);
      for (const id of ids) {
        const uid = order[id - 1]!.uid;
        const userFull = (held.get(uid) ?? 0) >= perUser;
        if (picked.has(id)) {
          held.set(uid, (held.get(uid) ?? 0) + 1);
          total += 1;
        } else if (total < parallel && !userFull) {
          return false; // skipped with a global slot and a slot for its user free
        }
      }
      return true;
    }),
  );
  t.pass();
});
