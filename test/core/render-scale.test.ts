// `dopq q` with 20,000 rows took 65 s: cli-table3's layout is quadratic in rows. These tests show
// the tables are drawn in bounded chunks (so linear work) and look exactly as one table would.
import { createRequire } from 'node:module';
import test from 'ava';
import Table from 'cli-table3';
import fc from 'fast-check';
import type { JobView, QueueView } from '../../src/core/view/queue-view.js';
import { drawTable, renderQueue, TABLE_CHUNK_ROWS } from '../../src/core/view/render.js';
import { busy, iso, job, now } from './busy-queue.js';

const { strlen } = createRequire(import.meta.url)('cli-table3/src/utils.js') as { strlen: (text: string) => number };
const head = ['id', 'user', 'name', 'outcome', 'detail'];
const chars = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };

/** What render.ts drew before chunking: one cli-table3 Table of all rows. */
function wholeTable(tableHead: string[], rows: string[][]): string {
  const t = new Table({ head: tableHead, style: { head: [], border: [] }, chars });
  t.push(...rows);
  return t.toString();
}

/** The rows each cli-table3 Table was asked to draw while `draw` ran. */
function tableSizes(draw: () => string): { sizes: number[]; out: string } {
  const sizes: number[] = [];
  const original = Table.prototype.toString;
  Table.prototype.toString = function (this: InstanceType<typeof Table>) {
    sizes.push(this.length);
    return original.call(this);
  };
  try {
    return { sizes, out: draw() };
  } finally {
    Table.prototype.toString = original;
  }
}

const row = (i: number): string[] => [String(i), `user${i % 97}`, `job-${i}`, '\u001b[31mrejected\u001b[39m', `bad manifest ${i}`];

test('20,000 rows: every row drawn once, no Table over the chunk size, widths the max over all rows', (t) => {
  const rows = Array.from({ length: 20_000 }, (_, i) => row(i));
  rows[19_999]![4] = 'the widest detail, in the very last row';
  const { sizes, out } = tableSizes(() => drawTable(head, rows));
  t.is(
    sizes.reduce((a, b) => a + b, 0),
    20_000,
    'each row handed to cli-table3 once',
  );
  t.true(Math.max(...sizes) <= TABLE_CHUNK_ROWS, 'cli-table3 work per chunk is bounded, so the total is linear');
  const lines = out.split('\n');
  t.is(lines.length, 20_000 + 3, 'top border, head, rows, bottom border: no borders between chunks');
  t.is(new Set(lines.map(strlen)).size, 1, 'every line as wide as the others');
  const detailWidth = lines[0]!.split('┬').at(-1)!.length - 1; // minus the closing ┐
  t.is(detailWidth, strlen('the widest detail, in the very last row') + 2, 'the first chunk is sized by a row of the last one');
  t.is(lines[1], '│ id    │ user   │ name      │ outcome  │ detail                                  │');
});

test('a few hundred rows come out byte for byte as one cli-table3 Table', (t) => {
  const rows = Array.from({ length: 2 * TABLE_CHUNK_ROWS + 37 }, (_, i) => row(i * 7919));
  t.is(drawTable(head, rows), wholeTable(head, rows));
});

const cell = fc
  .tuple(
    fc.array(fc.constantFrom('a', 'bc', ' ', '-', '漢', '😀', 'é', '…', '\n'), { maxLength: 6 }),
    fc.constantFrom('', '\u001b[31m', '\u001b[1m'),
  )
  .map(([parts, colour]) => (colour ? `${colour}${parts.join('')}\u001b[39m\u001b[22m` : parts.join('')));

test('property: any table, any chunk size, is drawn as one Table would be, all lines the same width', (t) => {
  fc.assert(
    fc.property(
      fc
        .integer({ min: 1, max: 5 })
        .chain((columns) =>
          fc.tuple(
            fc.array(cell, { minLength: columns, maxLength: columns }),
            fc.array(fc.array(cell, { minLength: columns, maxLength: columns }), { minLength: 1, maxLength: 25 }),
            fc.integer({ min: 1, max: 8 }),
          ),
        ),
      ([tableHead, rows, chunkRows]) => {
        const drawn = drawTable(tableHead, rows, chunkRows);
        return drawn === wholeTable(tableHead, rows) && new Set(drawn.split('\n').map(strlen)).size === 1;
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});

function finishedView(count: number): QueueView {
  const finished = (i: number): JobView =>
    job({
      id: i,
      name: `job-${i}`,
      user: `user${i % 40}`,
      state: 'rejected',
      submitted_at: iso(now - 1000 * i),
      finished_at: iso(now - 1000 * i),
      reason: 'invalid-manifest',
      message: 'gpus: expected a number',
    });
  return { ...busy, reservation: null, jobs: Array.from({ length: count }, (_, i) => finished(i + 1)), users: [] };
}

test('finishedLimit: the newest rows, then one line counting the older ones', (t) => {
  const capped = renderQueue(finishedView(120), { now, colorLevel: 0, finishedLimit: 50 });
  t.regex(capped, /^│ 1 +│/m, 'the newest is shown');
  t.regex(capped, /^│ 50 +│/m);
  t.notRegex(capped, /^│ 51 +│/m, 'the 51st newest is not');
  t.regex(capped, /^ {2}\.\.\. 70 older not shown; dopq q --all shows them$/m);
  const all = renderQueue(finishedView(120), { now, colorLevel: 0 });
  t.regex(all, /^│ 120 +│/m);
  t.notRegex(all, /older not shown/);
  t.notRegex(
    renderQueue(finishedView(50), { now, colorLevel: 0, finishedLimit: 50 }),
    /older not shown/,
    'exactly the limit: nothing hidden',
  );
});
