// Job numbers without a shared counter: what push picks, and what the daemon accepts as pushed.
import test from 'ava';
import fc from 'fast-check';
import { MAX_JOB_ID } from '../../src/core/job/envelope.js';
import { freeJobId, highestPushedId, idOfIntakeEntry, ID_SLACK } from '../../src/core/job/job-ids.js';

test('push takes the lowest number above the floor that no intake name holds', (t) => {
  t.is(freeJobId(0, new Set()), 1);
  t.is(freeJobId(5, new Set([6, 7, 9])), 8);
  t.is(freeJobId(MAX_JOB_ID - 1, new Set([MAX_JOB_ID])), undefined, 'never past the id range');
});

test('property: whatever a user squats, the number push picks is one the daemon takes as pushed', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 1_000_000 }),
      fc.uniqueArray(fc.integer({ min: 1, max: 5000 }), { maxLength: 300 }),
      (floor, offsets) => {
        const taken = new Set(offsets.map((offset) => floor + offset));
        const id = freeJobId(floor, taken)!;
        // The daemon counts at least the entries push saw above the floor (the names in `taken`).
        return id > floor && !taken.has(id) && id <= highestPushedId(floor, taken.size);
      },
    ),
  );
  t.pass();
});

test('property: the floor moves per pass by at most the entries waiting plus the slack', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: MAX_JOB_ID }), fc.nat(100_000), (floor, waiting) => {
      const highest = highestPushedId(floor, waiting);
      return highest <= MAX_JOB_ID && highest - floor <= waiting + ID_SLACK;
    }),
  );
  t.pass();
});

test('intake names: only what push writes holds a number', (t) => {
  t.is(idOfIntakeEntry('12.job'), 12);
  t.is(idOfIntakeEntry('12.ctx'), 12);
  for (const name of ['012.job', '12.req', '.12.job', '12.job.tmp', 'x.job', `${2 ** 31}.job`, '99999999999.ctx'])
    t.is(idOfIntakeEntry(name), undefined, name);
});
