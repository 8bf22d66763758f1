// `dopq q`'s whole drawing at a terminal's width: every line within it (tables, header, notes),
// the columns each table gives up first, local times in the header, GPU lists in numeric order,
// and without a width (`--wide`, a pipe) the tables exactly as dopq drew them before.
import { createRequire } from 'node:module';
import test from 'ava';
import fc from 'fast-check';
import type { QueueView } from '../../src/core/view/queue-view.js';
import { MIN_WIDTH } from '../../src/core/view/fit-table.js';
import { renderQueue } from '../../src/core/view/render.js';
import { busy, HOUR, iso, job, now, user } from './busy-queue.js';

const { strlen } = createRequire(import.meta.url)('cli-table3/src/utils.js') as { strlen: (text: string) => number };

/** The tables of the busy queue as dopq drew them before widths were fitted (commit 2fd9d2d), plus Running's limit and time left, and Finished's detail whole (no 60-character cap without a width). */
const BEFORE = `Running
┌────┬───────┬─────────────────────────────────────────────────┬──────┬─────────┬───────┬──────┬─────┬─────┬─────────┐
│ id │ user  │ name                                            │ gpus │ runtime │ limit │ left │ cpu │ mem │ gpu use │
│ 1  │ alice │ train-resnet50-imagenet-full-precision-long-run │ 0,1  │ 1h00m   │ 1h00m │ 0s   │ -   │ -   │ -       │
└────┴───────┴─────────────────────────────────────────────────┴──────┴─────────┴───────┴──────┴─────┴─────┴─────────┘

Queued
┌───┬────┬───────┬────────────────────────────────────────┬──────┬─────────┬──────────────────────────┐
│ # │ id │ user  │ name                                   │ gpus │ waiting │ est. start               │
│ 1 │ 2  │ bob   │ sweep-lr-0.001-batch-256-warmup-cosine │ 2    │ 2h00m   │ in 2h00m (GPUs reserved) │
│ 2 │ 3  │ carol │ ?                                      │ ?    │ 2h00m   │ more GPUs than usable    │
└───┴────┴───────┴────────────────────────────────────────┴──────┴─────────┴──────────────────────────┘

Finished
┌────┬───────┬─────────────────────────────────────┬─────────────────────┬──────┬──────────┬─────────────┬─────────────────────────────────────────────────────────────────────────────────┐
│ id │ user  │ name                                │ outcome             │ exit │ duration │ ended       │ detail                                                                          │
│ 4  │ alice │ eval                                │ done                │ 0    │ 30m00s   │ today 11:00 │                                                                                 │
│ 5  │ bob   │ preprocess-the-entire-dataset-again │ failed (time-limit) │ 137  │ 1h00m    │ today 09:30 │ stopped at its time limit of 1h; set time_limit in the manifest for longer runs │
│ 6  │ carol │ bad                                 │ rejected            │ -    │ -        │ today 07:30 │ line 3: gpus: expected a whole number of GPUs, got "two"                        │
└────┴───────┴─────────────────────────────────────┴─────────────────────┴──────┴──────────┴─────────────┴─────────────────────────────────────────────────────────────────────────────────┘

Users
┌───────┬───────┬───────────────┬───────────────────────┬─────────┬──────┬────────┐
│ user  │ share │ usage (GPU-h) │ penalty (GPU-h/share) │ running │ gpus │ queued │
│ carol │ 1     │ 0.00          │ 0.00                  │ 0       │ 0    │ 1      │
│ bob   │ 1     │ 1.25          │ 1.25                  │ 0       │ 0    │ 1      │
│ alice │ 1     │ 12.50         │ 12.50                 │ 1       │ 2    │ 0      │
└───────┴───────┴───────────────┴───────────────────────┴─────────┴──────┴────────┘
`;

const tablesOf = (drawn: string) => drawn.slice(drawn.indexOf('\nRunning\n') + 1);

test('no width (--wide, or not a terminal): the tables exactly as before', (t) => {
  const drawn = tablesOf(renderQueue(busy, { now, colorLevel: 0, timeZone: 'UTC' }));
  t.is(drawn, BEFORE);
  t.true(
    drawn.split('\n').some((line) => strlen(line) > 120),
    'this queue is wider than a terminal',
  );
});

test('80 columns: every line fits; Queued drops waiting and #, Finished duration and exit, Users usage', (t) => {
  const drawn = renderQueue(busy, { now, colorLevel: 0, width: 80, timeZone: 'UTC' });
  const lines = drawn.split('\n');
  t.true(
    lines.every((line) => strlen(line) <= 80),
    drawn,
  );
  const headOf = (title: string) => lines[lines.indexOf(title) + 2]!;
  t.regex(headOf('Running'), /│ id │ user +│ name +│ gpus │ runtime │/, 'Running keeps its columns');
  t.notRegex(headOf('Queued'), /waiting|│ # /);
  t.regex(headOf('Queued'), /│ id │ user +│ name +│ gpus │ est\. start +│/);
  t.notRegex(headOf('Finished'), /duration|exit/);
  t.regex(headOf('Finished'), /│ id │ user +│ name +│ outcome +│ detail +│/);
  t.notRegex(headOf('Users'), /usage/);
  t.regex(drawn, /│ 5 +│ bob +│ preprocess-[^│]*│ failed \(time-limit\) +│ stopped at[^│]*… │/, 'the detail is cut');
});

test('the header: local times in the TZ given, the reservation GPUs in numeric order', (t) => {
  const tokyo = renderQueue(busy, { now, colorLevel: 0, timeZone: 'Asia/Tokyo' });
  // now is 22:30 in Tokyo: the daemon started 26h before, the reservation is 2h after (00:30 next day).
  t.regex(tokyo, /^Daemon {2}up \(pid 42 on gpu1, since yesterday 20:30\)$/m);
  t.regex(tokyo, /^Reserved GPUs 0,1 for job 2 from tomorrow 00:30$/m);
  const utc = renderQueue({ ...busy, paused: { by: 'root', since: iso(now - 3 * 24 * HOUR) } }, { now, colorLevel: 0, timeZone: 'UTC' });
  t.regex(utc, /^Reserved GPUs 0,1 for job 2 from today 15:30$/m);
  t.regex(utc, /paused by root since 2026-11-26 13:30: no new jobs start/);
  t.notRegex(utc, /\d{2}:\d{2}:\d{2}\.\d{3}Z/, 'no raw ISO times');
});

test('GPU lists are in numeric order: 2 before 10, in the header and in the tables', (t) => {
  const gpus = Array.from({ length: 12 }, (_, index) => ({
    id: `GPU-${index}`,
    index,
    name: null,
    state: 'free' as const,
    job: null,
  }));
  const view: QueueView = {
    ...busy,
    gpus: [...gpus].reverse(),
    reservation: { job: 2, at: iso(now), gpus: ['GPU-10', 'GPU-2', 'GPU-1'] },
    jobs: [job({ id: 1, user: 'alice', name: 'x', state: 'running', gpus: ['GPU-11', 'GPU-3', 'GPU-9'], started_at: iso(now) })],
  };
  const drawn = renderQueue(view, { now, colorLevel: 0, timeZone: 'UTC' });
  t.regex(drawn, /^Reserved GPUs 1,2,10 for job 2/m);
  t.regex(drawn, /│ 3,9,11 │/);
  t.regex(drawn, /\[0:free 1:free 2:free 3:free .* 9:free 10:free 11:free\]/);
});

test('before the daemon ran: the config GPUs with a note, or unknown with gpus: auto', (t) => {
  const fromConfig = renderQueue({ ...busy, gpus_source: 'config' }, { now, colorLevel: 0 });
  t.regex(fromConfig, /^GPUs {4}1\/4 free {2}\[0:job 1 1:job 1 2:free 3:busy\] \(the config's list; the daemon has not run yet\)$/m);
  const unknown = renderQueue({ ...busy, gpus: [], gpus_free: 0, gpus_total: 0, gpus_source: 'unknown' }, { now, colorLevel: 0 });
  t.regex(unknown, /^GPUs {4}unknown until the daemon runs \(gpus: auto\)$/m);
});

// Any queue, any width: generated names, details, users and header texts, wide characters and all.
const text = fc
  .array(fc.constantFrom('a', 'job', '-', ' ', '漢字', '😀', 'é', 'x'.repeat(40), '\n'), { maxLength: 8 })
  .map((parts) => parts.join(''));
const states = ['queued', 'building', 'running', 'done', 'failed', 'cancelled', 'rejected'] as const;
const jobs = fc.array(
  fc.record({
    id: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    user: text,
    name: text,
    state: fc.constantFrom(...states),
    message: fc.option(text),
    attempt: fc.integer({ min: 1, max: 3 }),
    gpus: fc.array(fc.constantFrom('0', '1', '2', '10'), { maxLength: 4 }),
    position: fc.option(fc.integer({ min: 1, max: 10_000 })),
    waiting_for: fc.option(fc.constantFrom('held', 'paused', 'reserved', 'too-big', 'user-cap', 'image', 'building')),
  }),
  { maxLength: 15 },
);
const views = fc
  .record({ jobs, users: fc.array(text, { maxLength: 5 }), error: fc.option(text), paused: fc.option(text) })
  .map(({ jobs: js, users, error, paused }): QueueView => ({
    ...busy,
    daemon: {
      ...busy.daemon,
      host: 'a-very-long-host-name.example.org',
      engine: error === null ? null : { reachable: false, since: iso(now), error },
    },
    paused: paused === null ? null : { by: paused, since: iso(now) },
    jobs: js.map((j) =>
      job({
        ...j,
        started_at: j.state === 'queued' ? null : iso(now - HOUR),
        finished_at: ['done', 'failed', 'cancelled', 'rejected'].includes(j.state) ? iso(now) : null,
        estimated_start: j.state === 'queued' ? iso(now + HOUR) : null,
      }),
    ),
    users: users.map((name, i) => user(name, i * 1000.5, i, i)),
  }));

test('property: any queue drawn at any width from the minimum up has every line within it', (t) => {
  fc.assert(
    fc.property(views, fc.integer({ min: MIN_WIDTH, max: 160 }), fc.constantFrom(0, 1), (view, width, colour) => {
      const drawn = renderQueue(view, { now, colorLevel: colour as 0 | 1, width, timeZone: 'UTC', finishedLimit: 3 });
      return drawn.split('\n').every((line) => strlen(line) <= width);
    }),
    { numRuns: 300 },
  );
  t.pass();
});
