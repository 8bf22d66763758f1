// What q prints of users' text: no control character or bidi override reaches the terminal,
// whatever a job's name or message holds (core/view/printable.ts, render.ts).
import test from 'ava';
import fc from 'fast-check';
import { printable } from '../../src/core/view/printable.js';
import { renderQueue } from '../../src/core/view/render.js';
import { busy, iso, job, now } from './busy-queue.js';

const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

test('printable replaces controls and bidi overrides, and keeps the rest', (t) => {
  t.is(printable('a\u001b[31mb\nc\u202ed\u2067e\u0085f'), 'a?[31mb?c?d?e?f');
  t.is(printable('résumé-日本 ok'), 'résumé-日本 ok');
  fc.assert(fc.property(fc.string({ unit: 'binary' }), (text) => !UNPRINTABLE.test(printable(text))));
});

test("q's tables draw a hostile name and message on their own row, with no escape in the output", (t) => {
  const hostile = job({
    id: 20,
    user: 'dopq-bob',
    name: '\u001b[2J\u001b[31mPWNED\n 9 dopq-alice fake-row done',
    state: 'rejected',
    reason: 'rejected',
    finished_at: iso(now),
    message: 'bad\u001b]0;title\u0007\nfake',
  });
  const out = renderQueue({ ...busy, jobs: [hostile] }, { now, colorLevel: 0 });
  t.false(out.includes('\u001b'), out);
  t.false(out.includes('\u0007'), out);
  t.is(out.split('\n').filter((line) => line.includes('fake-row')).length, 1, out);
  t.false(
    out.split('\n').some((line) => /^\s*│?\s*9\s/.test(line)),
    'no row of its own for the forged line',
  );
});
