// Job arguments (`17`, `17_3`, `17_[1-3]`, `17-25`, `17,19`): parsed into references, refused
// with the argument named, and resolved against the known jobs (an array's id = all its tasks).
import test from 'ava';
import fc from 'fast-check';
import { DopqError } from '../../src/core/errors.js';
import { formatJobRef, jobLabel, parseJobRefs, resolveJobRefs, type RefTarget } from '../../src/core/job/job-ref.js';

test('every spelling parses to its references, in order', (t) => {
  t.deepEqual(parseJobRefs(['17']), [{ kind: 'job', id: 17 }]);
  t.deepEqual(parseJobRefs(['17_3']), [{ kind: 'task', array: 17, index: 3 }]);
  t.deepEqual(parseJobRefs(['17-25']), [{ kind: 'range', from: 17, to: 25 }]);
  t.deepEqual(parseJobRefs(['17,19', '4_0']), [
    { kind: 'job', id: 17 },
    { kind: 'job', id: 19 },
    { kind: 'task', array: 4, index: 0 },
  ]);
  t.deepEqual(parseJobRefs(['17_[1-2,5],30-31']), [
    { kind: 'task', array: 17, index: 1 },
    { kind: 'task', array: 17, index: 2 },
    { kind: 'task', array: 17, index: 5 },
    { kind: 'range', from: 30, to: 31 },
  ]);
  t.deepEqual(parseJobRefs([' 8 ']), [{ kind: 'job', id: 8 }], 'spaces around an argument are ignored');
});

test('a malformed argument is a usage error (64) that names it and says why', (t) => {
  const refused = (arg: string, message: RegExp) => {
    const error = t.throws(() => parseJobRefs(['1', arg]), { instanceOf: DopqError });
    t.is(error?.exitCode, 64);
    t.regex(error?.message ?? '', message);
    t.regex(error?.hint ?? '', /17_3/);
  };
  refused('x', /^not a job: "x"$/);
  refused('1e3', /^not a job: "1e3"$/);
  refused('-3', /not a job: "-3"/);
  refused('25-17', /not a job: "25-17" \(the range 25-17 runs backwards\)/);
  refused('17,', /not a job: "17," \(an empty part\)/);
  refused('17,y', /not a job: "17,y" \("y" is not a job\)/);
  refused('17_[3-1]', /the range 3-1 runs backwards/);
  refused('17_[0-100000]', /more than 100000 tasks/);
  refused('17_[a]', /"a" is not a task index or range/);
  refused('', /an empty part/);
});

test('formatting a reference gives back what parses to it', (t) => {
  const ref = fc.oneof(
    fc.record({ kind: fc.constant('job' as const), id: fc.nat() }),
    fc.record({ kind: fc.constant('task' as const), array: fc.nat(), index: fc.nat() }),
    fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => ({ kind: 'range' as const, from: Math.min(a, b), to: Math.max(a, b) })),
  );
  fc.assert(fc.property(ref, (r) => t.deepEqual(parseJobRefs([formatJobRef(r)]), [r])));
});

// Array 10 has tasks 10..13 (indices 0..3); 20 is a plain job; 21 a job written before arrays (no field).
const jobs: RefTarget[] = [
  ...[0, 1, 2, 3].map((index) => ({ id: 10 + index, array: { id: 10, index } })),
  { id: 20, array: null },
  { id: 21 },
];

test("an array's id names all its tasks; a task its one job; a plain id itself", (t) => {
  const [array, task, plain, old, first] = resolveJobRefs(parseJobRefs(['10', '10_2', '20', '21', '11']), jobs);
  t.deepEqual(array, { ref: { kind: 'job', id: 10 }, ids: [10, 11, 12, 13], array: true });
  t.deepEqual(task!.ids, [12]);
  t.false(task!.array);
  t.deepEqual(plain!.ids, [20]);
  t.deepEqual(old!.ids, [21], 'a job without the array field is no task');
  t.deepEqual(first!.ids, [11], 'a task by its own job id is that job alone');
});

test('a range names the jobs whose ids lie in it; what names no job resolves to none', (t) => {
  const [range, wide, none, task, unknown] = resolveJobRefs(parseJobRefs(['12-20', '0-999999999', '30-40', '10_9', '99']), jobs);
  t.deepEqual(range!.ids, [12, 13, 20]);
  t.deepEqual(wide!.ids, [10, 11, 12, 13, 20, 21]);
  for (const r of [none, task, unknown]) t.deepEqual(r!.ids, []);
});

test('a range resolves as a filter of the known ids would', (t) => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.nat(200)), fc.nat(200), fc.nat(200), (ids, a, b) => {
      const [from, to] = [Math.min(a, b), Math.max(a, b)];
      const [resolved] = resolveJobRefs(
        [{ kind: 'range', from, to }],
        ids.map((id) => ({ id })),
      );
      t.deepEqual(
        resolved!.ids,
        ids.filter((id) => id >= from && id <= to).sort((x, y) => x - y),
      );
    }),
  );
});

test('a job is labelled as q shows it', (t) => {
  t.is(jobLabel({ id: 12, array: { id: 10, index: 2 } }), '10_2');
  t.is(jobLabel({ id: 20, array: null }), '20');
  t.is(jobLabel({ id: 21 }), '21');
});
