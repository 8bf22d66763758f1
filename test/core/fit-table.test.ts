// Tables fitted to the terminal (core/view/fit-table.ts, drawn by render.ts): every line within
// the width, low-value columns dropped first and only when needed, then names and details cut
// with `…`; no width (`--wide`, a pipe) draws what dopq drew before widths were fitted.
import { createRequire } from 'node:module';
import test from 'ava';
import Table from 'cli-table3';
import fc from 'fast-check';
import { fitColumns, MIN_WIDTH, tableWidth, type TableFit } from '../../src/core/view/fit-table.js';
import { drawTable, TABLE_CHUNK_ROWS } from '../../src/core/view/render.js';

const { strlen } = createRequire(import.meta.url)('cli-table3/src/utils.js') as { strlen: (text: string) => number };

const cell = fc
  .tuple(
    fc.array(fc.constantFrom('a', 'bc', ' ', '-', '漢', '😀', 'é', '…', 'x'.repeat(30), '\n'), { maxLength: 8 }),
    fc.constantFrom('', '\u001b[31m', '\u001b[2m'),
  )
  .map(([parts, colour]) => (colour ? `${colour}${parts.join('')}\u001b[39m\u001b[22m` : parts.join('')));

/** A table of 1 to 8 columns named c0.., some rows, and a fit that names some of its columns. */
const tables = fc.integer({ min: 1, max: 8 }).chain((columns) => {
  const names = Array.from({ length: columns }, (_, i) => `c${i}`);
  return fc.record({
    head: fc.constant(names),
    rows: fc.array(fc.array(cell, { minLength: columns, maxLength: columns }), { minLength: 1, maxLength: 12 }),
    fit: fc.record({
      drop: fc.shuffledSubarray(names),
      truncate: fc
        .shuffledSubarray(names)
        .chain((cut) => fc.tuple(...cut.map((column) => fc.integer({ min: 1, max: 12 }).map((min) => ({ column, min }))))),
    }),
    chunkRows: fc.integer({ min: 1, max: 5 }),
  });
});

const natural = (head: string[], rows: string[][]) =>
  head.map((h, i) => rows.reduce((w, row) => Math.max(w, strlen(row[i]!) + 2), strlen(h) + 2));

test('property: at any width from the minimum up, every line drawn fits it', (t) => {
  fc.assert(
    fc.property(tables, fc.integer({ min: MIN_WIDTH, max: 200 }), ({ head, rows, fit, chunkRows }, width) => {
      const lines = drawTable(head, rows, chunkRows, { fit, width }).split('\n');
      return lines.every((line) => strlen(line) <= width);
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test('property: a table that fits is drawn whole, exactly as without a width (--wide)', (t) => {
  fc.assert(
    fc.property(tables, fc.nat(100), ({ head, rows, fit, chunkRows }, spare) => {
      const wide = drawTable(head, rows, chunkRows);
      const width = strlen(wide.split('\n')[0]!) + spare;
      return drawTable(head, rows, chunkRows, { fit, width }) === wide;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('property: columns are dropped in their order and only while the rest is too wide; nothing is cut before', (t) => {
  fc.assert(
    fc.property(tables, fc.integer({ min: MIN_WIDTH, max: 200 }), ({ head, rows, fit }, width) => {
      const widths = natural(head, rows);
      const { keep, colWidths } = fitColumns(head, widths, fit, width);
      const dropped = fit.drop.slice(0, head.length - keep.length);
      // The dropped columns are the first ones of the drop order...
      if (keep.some((i) => dropped.includes(head[i]!))) return false;
      // ...each dropped because the table without the ones before it was still too wide.
      for (let n = 0; n < dropped.length; n++) {
        const before = head.map((_, i) => i).filter((i) => !fit.drop.slice(0, n).includes(head[i]!));
        if (tableWidth(before.map((i) => widths[i]!)) <= width) return false;
      }
      // While a droppable column is kept, every column has its natural width.
      const cut = keep.some((i, k) => colWidths[k]! < widths[i]!);
      return !cut || keep.every((i) => !fit.drop.includes(head[i]!));
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test('property: a cut table fills the width exactly, and the names to cut go to their minimum before others are cut', (t) => {
  fc.assert(
    fc.property(tables, fc.integer({ min: MIN_WIDTH, max: 200 }), ({ head, rows, fit }, width) => {
      const widths = natural(head, rows);
      const { keep, colWidths } = fitColumns(head, widths, fit, width);
      const cutAt = keep.filter((i, k) => colWidths[k]! < widths[i]!);
      if (cutAt.length === 0) return true;
      if (tableWidth(colWidths) !== width) return false;
      const named = (i: number) => fit.truncate.find((c) => c.column === head[i]);
      const othersCut = cutAt.some((i) => !named(i));
      // Another column is cut only once every named one stands at its minimum (or below, cut with the rest).
      return !othersCut || keep.every((i, k) => !named(i) || colWidths[k]! <= Math.max(named(i)!.min + 2, 3));
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test('the widest column to cut gives way first, with …, then both; the header is cut like the rest', (t) => {
  const head = ['id', 'name', 'detail'];
  const rows = [['7', 'a-rather-long-job-name', 'x'.repeat(60)]];
  const fit: TableFit = {
    drop: [],
    truncate: [
      { column: 'detail', min: 10 },
      { column: 'name', min: 10 },
    ],
  };
  // Natural: 4 + 24 + 62 wide, 94 with the borders.
  const at60 = drawTable(head, rows, TABLE_CHUNK_ROWS, { fit, width: 60 }).split('\n');
  t.true(at60.every((line) => strlen(line) === 60));
  t.is(at60[2], `│ 7  │ a-rather-long-job-name │ ${'x'.repeat(25)}… │`, 'only detail is cut');
  const at40 = drawTable(head, rows, TABLE_CHUNK_ROWS, { fit, width: 40 }).split('\n');
  t.true(at40.every((line) => strlen(line) === 40));
  t.is(at40[2], `│ 7  │ a-rather-long… │ ${'x'.repeat(13)}… │`, 'both cut to the same width');
  const tiny = drawTable(['identifier', 'name'], [['1', 'n'.repeat(80)]], TABLE_CHUNK_ROWS, { fit, width: 20 }).split('\n');
  t.true(
    tiny.every((line) => strlen(line) === MIN_WIDTH),
    'a narrower terminal is drawn at the minimum',
  );
});

test('20,000 rows fitted to 80 columns: still drawn in bounded chunks, each row once', (t) => {
  const sizes: number[] = [];
  const original = Table.prototype.toString;
  Table.prototype.toString = function (this: InstanceType<typeof Table>) {
    sizes.push(this.length);
    return original.call(this);
  };
  let out: string;
  try {
    const rows = Array.from({ length: 20_000 }, (_, i) => [String(i), `user${i % 97}`, `job-${i}-${'n'.repeat(i % 50)}`, `detail ${i}`]);
    const fit: TableFit = { drop: ['detail'], truncate: [{ column: 'name', min: 10 }] };
    out = drawTable(['id', 'user', 'name', 'detail'], rows, TABLE_CHUNK_ROWS, { fit, width: 80 });
  } finally {
    Table.prototype.toString = original;
  }
  t.is(
    sizes.reduce((a, b) => a + b, 0),
    20_000,
  );
  t.true(Math.max(...sizes) <= TABLE_CHUNK_ROWS);
  const lines = out.split('\n');
  t.is(lines.length, 20_000 + 3);
  t.true(lines.every((line) => strlen(line) <= 80));
  t.notRegex(lines[1]!, /detail/, 'the low-value column went first');
});
