// `dopq q`'s filters and views as pure functions over the queue view: -u, --me, --state,
// --name, -q, --format (table columns and JSON keys), time left, and arrays shown compactly.
import test from 'ava';
import { DopqError } from '../../src/core/errors.js';
import { JOB_FIELDS, parseFields, pickFields, timeLeftOf, type ArrayTask } from '../../src/core/view/job-fields.js';
import { globPattern, jobFilter, parseStateFilters } from '../../src/core/view/job-filter.js';
import { fieldContext, filterView, jobIdLines, renderJobTable } from '../../src/core/view/job-table.js';
import type { JobView } from '../../src/core/view/queue-view.js';
import { groupTasks, indexRanges, renderQueue } from '../../src/core/view/render.js';
import { busy, HOUR, iso, job, now } from './busy-queue.js';

const ids = (jobs: readonly JobView[]) => jobs.map((j) => j.id);

test('-u, --state and --name select exactly the matching jobs, all filters together', (t) => {
  t.deepEqual(ids(filterView(busy, { users: ['alice'] }).jobs), [1, 4]);
  t.deepEqual(ids(filterView(busy, { users: ['alice', 'carol'] }).jobs), [1, 3, 4, 6]);
  t.deepEqual(ids(filterView(busy, { states: ['queued'] }).jobs), [2, 3]);
  t.deepEqual(ids(filterView(busy, { states: ['running', 'failed'] }).jobs), [1, 5]);
  t.deepEqual(ids(filterView(busy, { states: ['active'] }).jobs), [1, 2, 3]);
  t.deepEqual(ids(filterView(busy, { name: 'sweep-*' }).jobs), [2]);
  t.deepEqual(ids(filterView(busy, { name: '*e*', users: ['bob'], states: ['failed'] }).jobs), [5]);
  t.deepEqual(ids(filterView(busy, { users: ['nobody'] }).jobs), []);
  t.deepEqual(filterView(busy, {}).jobs, busy.jobs, 'no filter keeps every job');
  t.is(filterView(busy, { users: ['alice'] }).users, busy.users, 'the users section is left whole');
});

test('held is a state to filter by: queued and held', (t) => {
  const held = job({ id: 9, user: 'alice', name: 'x', state: 'queued', held_by: 'alice' });
  const keep = jobFilter({ states: ['held'] });
  t.true(keep(held));
  t.false(keep({ ...held, held_by: null }));
  t.deepEqual(parseStateFilters('Queued, held'), ['queued', 'held']);
  t.throws(() => parseStateFilters('queued,asleep'), { instanceOf: DopqError, message: /not a job state: "asleep"/ });
});

test('name globs: *, ?, sets, negated sets, escapes; everything else literal', (t) => {
  const cases: [string, string, boolean][] = [
    ['sweep-*', 'sweep-lr-0.1', true],
    ['sweep-*', 'a-sweep-lr', false],
    ['lr-?', 'lr-1', true],
    ['lr-?', 'lr-10', false],
    ['lr-[0-4]', 'lr-3', true],
    ['lr-[!0-4]', 'lr-3', false],
    ['a.b', 'axb', false],
    ['a.b', 'a.b', true],
    ['\\*', '*', true],
    ['\\*', 'x', false],
    ['(x)+', '(x)+', true],
    ['[unclosed', '[unclosed', true],
  ];
  for (const [glob, name, matches] of cases) t.is(globPattern(glob).test(name), matches, `${glob} ~ ${name}`);
  t.throws(() => globPattern('[z-a]'), { instanceOf: DopqError });
});

test('-q: ids one a line, only jobs not finished unless a state is asked for', (t) => {
  t.is(jobIdLines(busy.jobs, undefined), '1\n2\n3\n');
  t.is(jobIdLines(filterView(busy, { states: ['done', 'failed'] }).jobs, ['done', 'failed']), '4\n5\n');
  t.is(jobIdLines([], undefined), '');
});

test('--format: the table has exactly the columns asked for, in order', (t) => {
  const ctx = fieldContext(busy, now, 'UTC');
  const drawn = renderJobTable(filterView(busy, { users: ['bob'] }).jobs, parseFields('id,state,exit_code,user'), ctx);
  t.is(
    drawn,
    [
      '┌────┬────────┬───────────┬──────┐',
      '│ id │ state  │ exit_code │ user │',
      '│ 2  │ queued │ -         │ bob  │',
      '│ 5  │ failed │ 137       │ bob  │',
      '└────┴────────┴───────────┴──────┘',
      '',
    ].join('\n'),
  );
  t.is(renderJobTable([], ['id'], ctx), '  (none)\n');
  t.throws(() => parseFields('id,colour'), { instanceOf: DopqError, message: /unknown field "colour"/ });
  t.throws(() => parseFields('id,,id'), { instanceOf: DopqError, message: /"id" is given twice/ });
  t.deepEqual(parseFields('id,after,after_any,interactive'), ['id', 'after', 'after_any', 'interactive']);
  t.throws(() => parseFields(' , '), { instanceOf: DopqError, message: /no fields given/ });
});

test('--json --format: each job reduced to the keys asked for, derived ones computed', (t) => {
  const ctx = fieldContext(busy, now, undefined);
  const running = busy.jobs[0]!;
  t.deepEqual(pickFields(running, ['id', 'user', 'time_left', 'runtime', 'task', 'array'], ctx), {
    id: 1,
    user: 'alice',
    time_left: 0,
    runtime: 3600,
    task: '1',
    array: null,
  });
  t.deepEqual(Object.keys(pickFields(running, JOB_FIELDS, ctx)), [...JOB_FIELDS]);
});

test('time left: the limit minus the runtime, for running jobs only, never below 0', (t) => {
  const running = job({ id: 1, user: 'a', name: 'x', state: 'running', started_at: iso(now - HOUR), time_limit: 3 * 3600 });
  t.is(timeLeftOf(running, now), 2 * 3600);
  t.is(timeLeftOf({ ...running, time_limit: 60 }, now), 0);
  t.is(timeLeftOf({ ...running, state: 'done' }, now), null);
  const drawn = renderQueue({ ...busy, jobs: [running] }, { now, colorLevel: 0 });
  t.regex(
    drawn,
    /│ id │ user │ name │ gpus │ runtime │ limit │ left {2}│ cpu │ mem │ gpu use │\n│ 1 {2}│ a {4}│ x {4}│ - {4}│ 1h00m {3}│ 3h00m │ 2h00m │ - {3}│ - {3}│ - {7}│/,
  );
});

const task = (id: number, array: ArrayTask, fields: Partial<JobView> = {}): JobView =>
  ({ ...job({ id, user: 'alice', name: 'sweep', state: 'queued', position: id, ...fields }), array }) as JobView;

test("an array's queued tasks are one row (17_[4-7,9%4]); held ones and lone ones apart; --expand one row each", (t) => {
  const a = (index: number) => ({ id: 17, index, size: 20, throttle: 4 });
  const waiting = [
    task(21, a(4)),
    task(22, a(5)),
    task(23, a(6)),
    task(24, a(7)),
    task(26, a(9)),
    task(27, a(10), { held_by: 'alice' }),
    task(28, a(11), { held_by: 'alice' }),
    task(30, { id: 30, index: 0, size: 1, throttle: null }),
    job({ id: 31, user: 'bob', name: 'plain', state: 'queued', position: 31 }),
    task(20, a(3), { state: 'building' }),
  ];
  t.deepEqual(
    groupTasks(waiting).map((row) => [row.job.id, row.label]),
    [
      [21, '17_[4-7,9%4]'],
      [27, '17_[10-11%4]'],
      [30, '30_0'],
      [31, '31'],
      [20, '17_3'],
    ],
  );
  const view = { ...busy, jobs: waiting };
  t.regex(renderQueue(view, { now, colorLevel: 0 }), /│ 21 +│ 17_\[4-7,9%4\] │ alice │/);
  const expanded = renderQueue(view, { now, colorLevel: 0, expand: true });
  for (const label of ['17_4', '17_5', '17_9', '17_10', '17_11']) t.regex(expanded, new RegExp(`│ ${label} +│`));
  t.notRegex(expanded, /17_\[/);
});

test('index ranges are compact', (t) => {
  t.is(indexRanges([]), '');
  t.is(indexRanges([3]), '3');
  t.is(indexRanges([0, 1, 2, 5, 7, 8]), '0-2,5,7-8');
});
