import test from 'ava';
import fc from 'fast-check';
import { placeJobs, queueOrder, type QueuedJob } from '../../src/core/schedule.js';

const job = (id: number, user: string, gpus: number, submitted_at = id): QueuedJob => ({ id, user, gpus, submitted_at });

test('lower penalty first, then submission time', (t) => {
  const order = queueOrder([job(1, 'heavy', 1), job(2, 'light', 1), job(3, 'heavy', 1), job(4, 'light', 1)], new Map([['heavy', 100]]));
  t.deepEqual(order.map((j) => j.id), [2, 4, 1, 3]);
});

test('a job that does not fit is skipped; smaller ones behind it start', (t) => {
  const placements = placeJobs([job(1, 'a', 4), job(2, 'b', 1), job(3, 'c', 1)], ['g0', 'g1'], new Map());
  t.deepEqual(placements, [
    { id: 2, gpus: ['g0'] },
    { id: 3, gpus: ['g1'] },
  ]);
});

test('CPU-only jobs start even when every GPU is taken', (t) => {
  t.deepEqual(placeJobs([job(1, 'a', 1), job(2, 'a', 0)], [], new Map()), [{ id: 2, gpus: [] }]);
});

const scenario = fc.record({
  gpus: fc.integer({ min: 0, max: 8 }),
  jobs: fc.array(fc.record({ user: fc.constantFrom('a', 'b', 'c', 'd'), gpus: fc.integer({ min: 0, max: 4 }), at: fc.nat(1000) }), { maxLength: 30 }),
  penalty: fc.record({ a: fc.nat(100), b: fc.nat(100), c: fc.nat(100), d: fc.nat(100) }),
});

function setup({ gpus, jobs, penalty }: { gpus: number; jobs: { user: string; gpus: number; at: number }[]; penalty: Record<string, number> }) {
  return {
    gpus,
    free: Array.from({ length: gpus }, (_, i) => `g${i}`),
    queued: jobs.map((j, i) => job(i + 1, j.user, j.gpus, j.at)),
    penalties: new Map(Object.entries(penalty)),
  };
}

test('property: no GPU is handed out twice, and each job gets exactly what it asked for', (t) => {
  fc.assert(
    fc.property(scenario, (input) => {
      const { free, queued, penalties } = setup(input);
      const placements = placeJobs(queued, free, penalties);
      const handed = placements.flatMap((p) => p.gpus);
      return (
        new Set(handed).size === handed.length &&
        handed.every((g) => free.includes(g)) &&
        placements.every((p) => p.gpus.length === queued.find((q) => q.id === p.id)!.gpus)
      );
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test("property: no job is left waiting that fits in what is left, and no heavier user's job jumps a lighter one that fits", (t) => {
  fc.assert(
    fc.property(scenario, (input) => {
      const { gpus, free, queued, penalties } = setup(input);
      const placements = placeJobs(queued, free, penalties);
      const placed = new Set(placements.map((p) => p.id));
      const left = gpus - placements.reduce((n, p) => n + p.gpus.length, 0);
      const waiting = queued.filter((q) => !placed.has(q.id));
      if (waiting.some((q) => q.gpus <= left)) return false;
      // A waiting job that would have fit when it was its turn means the order was broken.
      let remaining = gpus;
      for (const q of queueOrder(queued, penalties)) {
        if (q.gpus <= remaining) {
          if (!placed.has(q.id)) return false;
          remaining -= q.gpus;
        }
      }
      return true;
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test('property: the same input gives the same decisions', (t) => {
  fc.assert(
    fc.property(scenario, (input) => {
      const { free, queued, penalties: p } = setup(input);
      return JSON.stringify(placeJobs(queued, free, p)) === JSON.stringify(placeJobs([...queued].reverse(), free, p));
    }),
  );
  t.pass();
});
