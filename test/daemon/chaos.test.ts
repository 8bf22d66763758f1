// Crash consistency, measured: the chaos harness (bench/chaos/) in short. About 40 jobs from two
// real users while the daemon is SIGKILLed 4 times, its private Docker engine restarted once and
// the spool's disk filled once; nothing may be lost, run twice, share a GPU or fail for a fault
// that is not the job's own. The judge itself is checked first, on made-up events.
import test from 'ava';
import { analyze, gpuOverlaps, type ChaosFacts, type EngineEvent, type Interval } from '../../bench/chaos/analyze.js';
import { parseEventLine } from '../../bench/chaos/engine.js';
import { parseChaosArgs, ChaosUsageError } from '../../bench/chaos/options.js';
import { makePlan, type PlannedJob } from '../../bench/chaos/plan.js';
import { renderChaos, renderDetails, violations } from '../../bench/chaos/report.js';
import { runChaos } from '../../bench/chaos/run.js';

const PREFIX = 'dopq-abc-';
const job = (seq: number, exits3 = false): PlannedJob => ({ seq, user: 'alice', gpus: 1, runMs: 500, exits3, at: 0 });
const push = (seq: number, id: number, exits3 = false) => ({ job: job(seq, exits3), code: 0, id, stderr: '', startedAt: 0, endedAt: 0 });
const ev = (container: string, action: string, jobId: number, timeMs: number): EngineEvent => ({
  container,
  action,
  name: `${PREFIX}${jobId}`,
  timeMs,
});
const facts = (over: Partial<ChaosFacts>): ChaosFacts => ({
  pushes: [],
  jobs: [],
  events: [],
  markers: new Map(),
  ended: new Set(),
  outages: [],
  namePrefix: PREFIX,
  endAt: 10_000,
  ...over,
});

test('the judge: a clean run counts nothing', (t) => {
  const counts = analyze(
    facts({
      pushes: [push(1, 1), push(2, 2, true), { job: job(3), code: 73, stderr: 'full', startedAt: 0, endedAt: 0 }],
      jobs: [
        { id: 1, state: 'done', reason: 'exited', exit_code: 0, gpus: ['0'] },
        { id: 2, state: 'failed', reason: 'exited', exit_code: 3, gpus: ['0'] },
      ],
      events: [
        ev('c1', 'create', 1, 90),
        ev('c1', 'start', 1, 100),
        ev('c1', 'die', 1, 200),
        ev('c2', 'start', 2, 250),
        ev('c2', 'die', 2, 400),
      ],
      markers: new Map([['1.c1', ['0']]]),
      ended: new Set(['1.c1', '2.c2']),
    }),
  );
  t.deepEqual(violations(counts), {
    lost: 0,
    'run twice': 0,
    'GPU overlaps': 0,
    'failed by a fault not theirs': 0,
    'recorded as ended on its own but cut short': 0,
  });
  t.is(counts.pushed, 2);
  t.is(counts.refused, 1);
  t.deepEqual(counts.states, { done: 1, failed: 1, cancelled: 0, rejected: 0, unfinished: 0 });
  t.is(counts.unknownGpus, 0, 'GPUs from the marker, or from the record of a job with one container');
});

test('the judge: lost, run twice, overlaps and foreign faults are each counted', (t) => {
  const counts = analyze(
    facts({
      pushes: [push(1, 1), push(2, 2), push(3, 3), push(4, 4, true), push(5, 5)],
      jobs: [
        { id: 1, state: 'done', reason: 'exited', exit_code: 0, gpus: ['1'], attempts: 1 },
        { id: 2, state: 'failed', reason: 'exited', exit_code: 137, gpus: ['0'] },
        { id: 3, state: 'running', reason: null, exit_code: null, gpus: ['2'] },
        { id: 4, state: 'failed', reason: 'start-failed', exit_code: null, gpus: [] },
        { id: 5, state: 'done', reason: 'exited', exit_code: 0, gpus: ['0'], attempt: 2 },
      ],
      // Job 1 started in two containers with one attempt; job 2 and job 5 held GPU 0 together.
      events: [
        ev('a', 'start', 1, 100),
        ev('a', 'die', 1, 200),
        ev('b', 'start', 1, 300),
        ev('b', 'die', 1, 400),
        ev('c', 'start', 2, 500),
        ev('d', 'start', 5, 600),
        ev('d', 'die', 5, 700),
        ev('c', 'die', 2, 800),
      ],
      markers: new Map([
        ['1.a', ['1']],
        ['1.b', ['1']],
        ['5.d', ['0']],
      ]),
      ended: new Set(['1.b', '5.d']),
    }),
  );
  t.deepEqual(counts.lost, [{ id: 3, why: 'still running' }]);
  t.deepEqual(counts.runTwice, [{ id: 1, starts: 2, attempts: 1 }]);
  t.is(counts.overlaps.length, 1);
  t.deepEqual([counts.overlaps[0]!.first.job, counts.overlaps[0]!.second.job, counts.overlaps[0]!.gpu], [2, 5, '0']);
  t.deepEqual(
    counts.foreignFaults.map((f) => f.id),
    [2, 4],
    "exit 137 and start-failed are not the job's own exit 3",
  );
  t.deepEqual(counts.requeued, [{ id: 5, attempts: 2 }]);
});

test('the judge: a container without a die event ends when the engine went down, and recovery is timed from its return', (t) => {
  const counts = analyze(
    facts({
      pushes: [push(1, 1), push(2, 2)],
      jobs: [
        { id: 1, state: 'done', reason: 'exited', exit_code: 0, gpus: ['0'], attempts: 2 },
        { id: 2, state: 'done', reason: 'exited', exit_code: 0, gpus: ['0'] },
      ],
      events: [
        ev('a', 'start', 1, 100),
        ev('b', 'start', 2, 5000),
        ev('b', 'die', 2, 6000),
        ev('c', 'start', 1, 6500),
        ev('c', 'die', 1, 7000),
      ],
      markers: new Map([
        ['1.a', ['0']],
        ['2.b', ['0']],
        ['1.c', ['0']],
      ]),
      ended: new Set(['2.b', '1.c']),
      outages: [{ stopAt: 1000, goneAt: 2000, backAt: 4000 }],
    }),
  );
  t.is(counts.overlaps.length, 0, 'job 1 held GPU 0 until the engine was gone, before job 2 started');
  t.is(counts.openIntervals, 1);
  t.deepEqual(counts.recoveryMs, [1000]);
  t.is(counts.runTwice.length, 0, 'two starts, two attempts');
});

test('the judge: an exit 0 without an end marker was cut short; a marker without a start event is still a start', (t) => {
  const counts = analyze(
    facts({
      pushes: [push(1, 1), push(2, 2, true)],
      jobs: [
        { id: 1, state: 'done', reason: 'exited', exit_code: 0, gpus: ['0'] },
        { id: 2, state: 'failed', reason: 'exited', exit_code: 3, gpus: ['1'] },
      ],
      events: [ev('a', 'start', 1, 100), ev('a', 'die', 1, 200), ev('b', 'start', 2, 100), ev('b', 'die', 2, 200)],
      // Job 1 ran in a, which never got to its end; job 2 also ran in c, whose events were lost.
      markers: new Map([
        ['1.a', ['0']],
        ['2.b', ['1']],
        ['2.c', ['1']],
      ]),
      ended: new Set(['2.b']),
    }),
  );
  t.deepEqual(counts.cutShort, [{ id: 1, state: 'done', exit_code: 0 }]);
  t.is(counts.missedStarts, 1);
  t.deepEqual(counts.runTwice, [{ id: 2, starts: 2, attempts: 1 }]);
});

test('the judge: overlaps need two containers at once on one GPU', (t) => {
  const span = (job: number, container: string, start: number, end: number, gpus: string[]): Interval => ({
    job,
    container,
    start,
    end,
    gpus,
    open: false,
  });
  t.is(
    gpuOverlaps([span(1, 'a', 0, 10, ['0', '1']), span(2, 'b', 10, 20, ['1'])]).length,
    0,
    'a handoff at the same instant is no overlap',
  );
  t.is(gpuOverlaps([span(1, 'a', 0, 10, ['0', '1']), span(2, 'b', 9, 20, ['1', '2'])]).length, 1);
  t.is(gpuOverlaps([span(1, 'a', 0, 10, ['0']), span(2, 'b', 5, 20, ['1'])]).length, 0);
});

test('events, options and plans', (t) => {
  const line =
    '{"status":"die","id":"8012","Type":"container","Action":"die","Actor":{"ID":"8012","Attributes":{"exitCode":"137","name":"dopq-x-1"}},"time":1,"timeNano":1500000000}';
  t.deepEqual(parseEventLine(line), { container: '8012', action: 'die', name: 'dopq-x-1', timeMs: 1500, exitCode: 137 });
  t.is(parseEventLine('{"Type":"image","Action":"pull","timeNano":1}'), undefined);
  t.is(parseEventLine('not json'), undefined);
  const options = parseChaosArgs(['--jobs', '40', '--kills=4', '--engine-restarts', '1', '--disk-full', '1', '--seed', '7'], 1);
  t.like(options, { jobs: 40, kills: 4, engineRestarts: 1, diskFull: 1, seed: 7 });
  t.throws(() => parseChaosArgs(['--jobs', 'many'], 1), {
    instanceOf: ChaosUsageError,
    message: /--jobs expects a whole number >= 0, got "many"/,
  });
  t.throws(() => parseChaosArgs(['--fast'], 1), { instanceOf: ChaosUsageError, message: /unknown option --fast/ });
  const plan = makePlan(options);
  t.deepEqual(plan, makePlan(options), 'the same seed, the same script');
  t.is(plan.faults.filter((f) => f.kind === 'kill').length, 4);
  t.true(plan.jobs.every((j) => j.runMs >= 200 && j.runMs <= 3000 && (j.gpus === 1 || j.gpus === 2)));
  t.true(new Set(plan.jobs.map((j) => j.user)).size === 2);
});

test('chaos: nothing lost, run twice, on a shared GPU or failed for a fault not its own', async (t) => {
  t.timeout(175_000);
  const result = await runChaos(
    { jobs: 40, kills: 4, engineRestarts: 1, diskFull: 1, seed: 42, pushIntervalMs: 700, settleMs: 60_000 },
    { progress: (line) => t.log(line) },
  );
  t.log(`\n${renderChaos(result)}`);
  const details = renderDetails(result);
  if (details) t.log(details);
  const c = result.counts;
  t.true(c.pushed >= 30, `most pushes are queued (${c.pushed} of 40; ${c.refused} refused for a full disk)`);
  t.is(result.faults.kills.length, 4, 'every planned SIGKILL happened');
  t.is(result.faults.outages.filter((o) => o.backAt !== null).length, 1, 'the engine restarted');
  t.is(result.faults.fullPhases.length, 1, 'the disk was full once');
  t.is(c.lost.length, 0, `lost: ${JSON.stringify(c.lost)}`);
  t.is(c.runTwice.length, 0, `run twice: ${JSON.stringify(c.runTwice)}`);
  t.is(c.overlaps.length, 0, `GPU overlaps: ${c.overlaps.map((o) => `gpu ${o.gpu} #${o.first.job}/#${o.second.job}`).join(', ')}`);
  t.is(c.foreignFaults.length, 0, `failed by a fault not theirs: ${JSON.stringify(c.foreignFaults)}`);
  t.is(c.cutShort.length, 0, `recorded as exited 0/3 but cut short: ${JSON.stringify(c.cutShort)}`);
  if (c.unknownGpus > 0) t.log(`${c.unknownGpus} container runs left out of the overlap check: their GPUs are unknown`);
});
