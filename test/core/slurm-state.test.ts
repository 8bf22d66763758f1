// backend: slurm in the pure core: squeue/sacct JSON and sshare read, Slurm's word mirrored into
// job records (every job ends once, write-ahead submissions found by name, dopq's holds and
// cancels carried to Slurm), and which queued jobs go to Slurm with which --dependency.
import test from 'ava';
import type { JobRecord } from '../../src/core/job/job.js';
import { accountingLookups, mirrorSlurm, STOP_RESEND_MS, type MirrorInput } from '../../src/core/slurm/mirror.js';
import { parseSacct } from '../../src/core/slurm/sacct-text.js';
import { gpuIndices, waitStatus, type SlurmJob } from '../../src/core/slurm/slurm-job.js';
import { parseSqueueJson } from '../../src/core/slurm/squeue-json.js';
import { parseSshare } from '../../src/core/slurm/sshare.js';
import { submissionsDue } from '../../src/core/slurm/submissions.js';
import type { StateFile } from '../../src/core/state.js';
import { buildQueueView } from '../../src/core/view/queue-view.js';
import { renderQueue } from '../../src/core/view/render.js';
import { testConfig } from './fixtures.js';

const now = 1_800_000_000_000;
const COMMENT = 'dopq:abc1234567';
const nameOf = (id: number) => `dopq-${id}`;

function record(id: number, extra: Partial<JobRecord> = {}): JobRecord {
  return {
    id,
    user: 'dopq-alice',
    uid: 1001,
    name: `job${id}`,
    image: 'busybox',
    gpus_requested: 1,
    gpus: [],
    state: 'queued',
    submitted_at: now - 60_000,
    time_limit: 3600,
    ...extra,
  };
}

function slurmJob(id: number, extra: Partial<SlurmJob> = {}): SlurmJob {
  return {
    job_id: id,
    name: `dopq-${id - 100}`,
    user: 'dopq-alice',
    state: 'PENDING',
    reason: 'Priority',
    priority: 4294901000,
    node: null,
    gpus: [],
    submit_time: now - 50_000,
    start_time: null,
    end_time: null,
    exit: null,
    comment: COMMENT,
    ...extra,
  };
}

function mirror(jobs: JobRecord[], squeue: SlurmJob[], sacct: SlurmJob[] | null = []): ReturnType<typeof mirrorSlurm> {
  const input: MirrorInput = { jobs, squeue, sacct, comment: COMMENT, nameOf, termLead: 11, now };
  return mirrorSlurm(input);
}

// Slurm 22.05.8's `squeue --all --json` (openapi v0.0.38), captured, cut to the fields read (ids renumbered).
const SQUEUE_2205 = JSON.stringify({
  meta: { plugin: { type: 'openapi/v0.0.38', name: 'Slurm OpenAPI v0.0.38' }, Slurm: { version: { major: 22, micro: 8, minor: 5 } } },
  errors: [],
  jobs: [
    {
      job_id: 41,
      name: 'dopq-7',
      user_name: 'dopq-alice',
      job_state: 'RUNNING',
      state_reason: 'None',
      priority: 4294901758,
      nodes: 'node1',
      batch_host: 'node1',
      gres_detail: ['gpu:2(IDX:1,3)'],
      submit_time: 1800000000,
      start_time: 1800000005,
      end_time: 1800003605,
      exit_code: 0,
      comment: COMMENT,
    },
    {
      job_id: 42,
      name: 'dopq-8',
      user_name: 'dopq-bob',
      job_state: 'PENDING',
      state_reason: 'JobHeldAdmin',
      priority: 0,
      nodes: '',
      gres_detail: [],
      submit_time: 1800000001,
      start_time: 0,
      end_time: 0,
      exit_code: 0,
      comment: COMMENT,
    },
    { job_id: 43, name: 'x', user_name: 'carol', job_state: 'FAILED', state_reason: 'NonZeroExitCode', exit_code: 768, comment: '' },
    { job_id: 44, name: 'y', user_name: 'carol', job_state: 'CANCELLED', exit_code: 15 },
  ],
});

test('squeue --json of 22.05: states, reasons, priority, node, GPU indices, exit codes', (t) => {
  const jobs = parseSqueueJson(SQUEUE_2205);
  t.is(jobs.length, 4);
  t.deepEqual(jobs[0], {
    job_id: 41,
    name: 'dopq-7',
    user: 'dopq-alice',
    state: 'RUNNING',
    reason: null,
    priority: 4294901758,
    node: 'node1',
    gpus: ['1', '3'],
    submit_time: 1800000000_000,
    start_time: 1800000005_000,
    end_time: 1800003605_000,
    exit: { code: 0, signal: null },
    comment: COMMENT,
  });
  t.like(jobs[1], { state: 'PENDING', reason: 'JobHeldAdmin', priority: 0, node: null, start_time: null, gpus: [] });
  t.deepEqual(jobs[2]!.exit, { code: 3, signal: null });
  t.deepEqual(jobs[3]!.exit, { code: null, signal: 15 });
  t.is(jobs[2]!.comment, null);
});

test('squeue --json of later releases: lists of states and {set, number} values', (t) => {
  const text = JSON.stringify({
    jobs: [
      {
        job_id: 5,
        name: 'dopq-1',
        user_name: 'u',
        job_state: ['PENDING'],
        state_reason: 'Resources',
        priority: { set: true, infinite: false, number: 77 },
        start_time: { set: true, infinite: false, number: 1800000100 },
        exit_code: { status: ['SUCCESS'], return_code: { set: true, number: 0 } },
      },
    ],
  });
  t.like(parseSqueueJson(text)[0], { state: 'PENDING', reason: 'Resources', priority: 77, start_time: 1800000100_000 });
});

test('squeue output that is not its JSON is an error naming the command', (t) => {
  t.throws(() => parseSqueueJson('squeue: error: unrecognized option'), { message: /squeue --json printed no JSON/ });
  t.throws(() => parseSqueueJson('{"errors": []}'), { message: /without a jobs list/ });
});

test('GPU indices from gres_detail; wait statuses', (t) => {
  t.deepEqual(gpuIndices(['gpu:4(IDX:0-3)']), ['0', '1', '2', '3']);
  t.deepEqual(gpuIndices(['gpu:tesla:2(IDX:1,5)', 'gpu:1(IDX:N/A)', 'mps:100']), ['1', '5']);
  t.deepEqual(waitStatus(0), { code: 0, signal: null });
  t.deepEqual(waitStatus(256 * 137), { code: 137, signal: null });
  t.deepEqual(waitStatus(9), { code: null, signal: 9 });
  t.is(waitStatus(null), null);
});

test('sacct -P of 22.05 (captured): exit codes and signals, states with who cancelled, times as epoch seconds', (t) => {
  // SLURM_TIME_FORMAT=%s sacct --allusers -P -n -X -o JobID,JobName,User,State,ExitCode,NodeList,Submit,Start,End
  const text = [
    '3|dopq-9001|dopq-alice|FAILED|3:0|vm|1795958158|1795958158|1795958159',
    '4|dopq-9002|dopq-alice|RUNNING|0:0|vm|1795958158|1795958158|Unknown',
    '5|dopq-9003|dopq-alice|CANCELLED by 0|0:0|None assigned|1795958158|None|1795958177',
    '6|dopq-9004|dopq-alice|FAILED|0:9|vm|1795958158|1795958158|1795958159',
    '6.batch|batch||CANCELLED|0:9|vm|1795958158|1795958158|1795958159',
    '',
  ].join('\n');
  const [failed, running, cancelled, killed, ...rest] = parseSacct(text);
  t.deepEqual(rest, [], 'steps are not jobs');
  t.like(failed, { job_id: 3, name: 'dopq-9001', user: 'dopq-alice', state: 'FAILED', node: 'vm', exit: { code: 3, signal: null } });
  t.like(running, { state: 'RUNNING', start_time: 1795958158_000, end_time: null });
  t.like(cancelled, { state: 'CANCELLED', node: null, start_time: null, end_time: 1795958177_000 });
  t.deepEqual(killed!.exit, { code: null, signal: 9 });
});

test('sshare -a -P (captured): one row per user association, numbers read, account lines left out', (t) => {
  const text = [
    'root|||0.000000|3|1.000000|',
    ' root|root|1|0.333333|0|0.000000|1.000000',
    ' dopq||1|0.333333|3|1.000000|',
    '  dopq|dopq-alice|1|0.500000|3|0.000000|0.666667',
    '  dopq|dopq-bob|1|0.500000|0|1.000000|0.333333',
    '',
  ].join('\n');
  t.deepEqual(parseSshare(text), [
    { account: 'root', user: 'root', raw_shares: 1, norm_shares: 0.333333, raw_usage: 0, effective_usage: 0, fairshare: 1 },
    { account: 'dopq', user: 'dopq-alice', raw_shares: 1, norm_shares: 0.5, raw_usage: 3, effective_usage: 0, fairshare: 0.666667 },
    { account: 'dopq', user: 'dopq-bob', raw_shares: 1, norm_shares: 0.5, raw_usage: 0, effective_usage: 1, fairshare: 0.333333 },
  ]);
});

test('mirror: a pending job keeps its place with Slurm reason, priority and expected start', (t) => {
  const job = record(1, { slurm_job_id: 101 });
  const result = mirror([job], [slurmJob(101, { reason: 'Resources', priority: 900, start_time: now + 60_000 })]);
  t.deepEqual(result.updates, [
    { ...job, slurm: { state: 'PENDING', node: null, reason: 'Resources', priority: 900, start_estimate: now + 60_000 } },
  ]);
  // Nothing changed: no update at all.
  t.deepEqual(mirror(result.updates, [slurmJob(101, { reason: 'Resources', priority: 900, start_time: now + 60_000 })]).updates, []);
});

test('mirror: running with its node and GPUs, once; then every outcome ends the job once', (t) => {
  const queued = record(1, { slurm_job_id: 101 });
  const start = now - 30_000;
  const running = mirror([queued], [slurmJob(101, { state: 'RUNNING', node: 'n1', gpus: ['2'], start_time: start })]);
  t.deepEqual(running.started, [1]);
  const job = running.updates[0]!;
  t.like(job, { state: 'running', started_at: start, gpus: ['n1:2'] });

  const end = (state: string, exit: SlurmJob['exit']) =>
    mirror([job], [slurmJob(101, { state, reason: null, node: 'n1', start_time: start, end_time: now, exit })]).updates[0]!;
  t.like(end('COMPLETED', { code: 0, signal: null }), { state: 'done', reason: 'exited', exit_code: 0, finished_at: now, gpus: ['n1:2'] });
  t.like(end('FAILED', { code: 3, signal: null }), { state: 'failed', reason: 'exited', exit_code: 3 });
  t.like(end('FAILED', { code: 0, signal: null }), { state: 'failed', exit_code: null });
  t.like(end('TIMEOUT', { code: null, signal: 15 }), { state: 'failed', reason: 'time-limit', exit_code: 143 });
  // The TERM before the limit (1 min here, TERM 11 s before) stopped the container: the helper exited 143 first.
  const limited = { ...job, time_limit: 60, started_at: now - 50_000 };
  const failed143 = (at: JobRecord) =>
    mirror([at], [slurmJob(101, { state: 'FAILED', end_time: now, exit: { code: 143, signal: null } })]).updates[0]!;
  t.like(failed143(limited), { state: 'failed', reason: 'time-limit', exit_code: 143 });
  t.like(failed143({ ...limited, time_limit: 3600 }), { state: 'failed', reason: 'exited', exit_code: 143 });
  t.like(end('OUT_OF_MEMORY', { code: 137, signal: null }), { state: 'failed', reason: 'oom-killed' });
  t.like(end('CANCELLED', { code: null, signal: 15 }), {
    state: 'cancelled',
    reason: 'cancelled',
    message: 'cancelled in Slurm (scancel)',
  });
  t.like(end('NODE_FAIL', null), { state: 'failed', reason: 'lost', message: 'Slurm ended it: NODE_FAIL' });
  // Cancelled by dopq rm: dopq's own words stay.
  const stopping = { ...job, stopping: 'cancelled' as const, stop_requested_at: now, message: 'cancelled by dopq-alice' };
  t.like(mirror([stopping], [slurmJob(101, { state: 'CANCELLED', start_time: start, end_time: now })]).updates[0], {
    state: 'cancelled',
    message: 'cancelled by dopq-alice',
  });
  // A finished record is never changed again, whatever Slurm says later.
  const finished = end('COMPLETED', { code: 0, signal: null });
  t.deepEqual(mirror([finished], [slurmJob(101, { state: 'FAILED', exit: { code: 1, signal: null } })]).updates, []);
});

test('mirror: a job that ended before dopq saw it run still has its start and GPUs', (t) => {
  const job = record(1, { slurm_job_id: 101 });
  const done = mirror(
    [job],
    [
      slurmJob(101, {
        state: 'COMPLETED',
        node: 'n1',
        gpus: ['0'],
        start_time: now - 5000,
        end_time: now - 1000,
        exit: { code: 0, signal: null },
      }),
    ],
  );
  t.like(done.updates[0], { state: 'done', started_at: now - 5000, finished_at: now - 1000, gpus: ['n1:0'] });
  // Cancelled while it waited: it never ran.
  const cancelled = mirror([job], [slurmJob(101, { state: 'CANCELLED', start_time: now, end_time: now })]).updates[0]!;
  t.like(cancelled, { state: 'cancelled', reason: 'cancelled' });
  t.is(cancelled.started_at, undefined);
});

test('mirror: holds and releases dopq asked for reach Slurm; a job dopq cancelled while pending is cancelled there', (t) => {
  const held = record(1, { slurm_job_id: 101, held_by: 'dopq-alice' });
  const released = record(2, { slurm_job_id: 102 });
  const cancelled = record(3, { slurm_job_id: 103, state: 'cancelled', finished_at: now });
  const result = mirror(
    [held, released, cancelled],
    [slurmJob(101), slurmJob(102, { reason: 'JobHeldAdmin', priority: 0 }), slurmJob(103), slurmJob(104, { comment: 'dopq:otherspool' })],
  );
  t.deepEqual(result.hold, [101]);
  t.deepEqual(result.release, [102]);
  // Another spool's job (104) is never touched.
  t.deepEqual(result.cancel, [103]);
});

test('mirror: a stop not answered is sent again after a while', (t) => {
  const job = record(1, {
    slurm_job_id: 101,
    state: 'running',
    started_at: now - 60_000,
    stopping: 'cancelled',
    stop_requested_at: now - STOP_RESEND_MS,
  });
  const result = mirror([job], [slurmJob(101, { state: 'RUNNING', node: 'n1', start_time: now - 60_000 })]);
  t.deepEqual(result.cancel, [101]);
  t.is(result.updates[0]!.stop_requested_at, now);
  t.deepEqual(
    mirror([{ ...job, stop_requested_at: now - 1000 }], [slurmJob(101, { state: 'RUNNING', node: 'n1', start_time: now - 60_000 })]).cancel,
    [],
  );
});

test('write-ahead: a submission Slurm has is found by name and adopted, a second one cancelled', (t) => {
  const job = record(1, { slurm_submit_at: now - 10_000 });
  const result = mirror([job], [slurmJob(102, { name: 'dopq-1' }), slurmJob(101, { name: 'dopq-1' })]);
  t.like(result.updates[0], { slurm_job_id: 101, slurm: { state: 'PENDING' } });
  t.deepEqual(result.cancel, [102]);
  t.deepEqual(result.resubmit, []);
});

test('write-ahead: a submission neither squeue nor sacct knows is made again; one sacct knows is not', (t) => {
  const job = record(1, { slurm_submit_at: now - 10_000 });
  t.deepEqual(accountingLookups({ jobs: [job], squeue: [], comment: COMMENT, nameOf }), { ids: [], names: ['dopq-1'] });
  t.deepEqual(mirror([job], [], []).resubmit, [1]);
  // sacct could not be asked: wait, rather than risk running it twice.
  t.deepEqual(mirror([job], [], null).resubmit, []);
  // It ran and ended while the daemon was away, long enough for the controller to forget it.
  const ended = slurmJob(101, {
    name: 'dopq-1',
    state: 'COMPLETED',
    comment: null,
    start_time: now - 8000,
    end_time: now - 4000,
    exit: { code: 0, signal: null },
  });
  const result = mirror([job], [], [ended]);
  t.deepEqual(result.resubmit, []);
  t.like(result.updates[0], { slurm_job_id: 101, state: 'done' });
  // A job of the same name from before it set out is not it.
  t.deepEqual(mirror([job], [], [{ ...ended, submit_time: now - 3600_000 }]).resubmit, [1]);
});

test('mirror: a job neither squeue nor sacct knows is lost, once sacct could say', (t) => {
  const job = record(1, { slurm_job_id: 101, state: 'running', started_at: now - 60_000 });
  t.deepEqual(accountingLookups({ jobs: [job], squeue: [], comment: COMMENT, nameOf }), { ids: [101], names: [] });
  t.like(mirror([job], [], []).updates[0], { state: 'failed', reason: 'lost', exit_code: null, finished_at: now });
  t.deepEqual(mirror([job], [], null).updates, []);
});

test('mirror: a job Slurm requeued waits again as the next attempt', (t) => {
  const job = record(1, { slurm_job_id: 101, state: 'running', started_at: now - 60_000, gpus: ['n1:0'] });
  const next = mirror([job], [slurmJob(101, { state: 'PENDING', reason: 'BeginTime' })]).updates[0]!;
  t.like(next, { state: 'queued', gpus: [], attempt: 2 });
  t.is(next.started_at, undefined);
});

test('submissions: queued jobs not held, not paused, with their image; after: once the jobs before are in Slurm', (t) => {
  const jobs = [
    record(1, { slurm_job_id: 101 }),
    record(2),
    record(3, { held_by: 'dopq-alice' }),
    record(4, { needs_image: 'build' }),
    record(5, { after: [1] }),
    record(6, { after: [2] }),
    record(7, { after_any: [1], after: [8] }),
    record(8, { state: 'done', finished_at: now }),
    record(9, { interactive: true }),
    record(10, { slurm_submit_at: now }),
  ];
  t.deepEqual(submissionsDue({ jobs, paused: null }), [
    { id: 2, dependency: null },
    { id: 5, dependency: 'afterok:101' },
    { id: 7, dependency: 'afterany:101' },
  ]);
  t.deepEqual(submissionsDue({ jobs, paused: { by: 'root', at: now } }), []);
  // After an array: every task.
  const array = { id: 20, index: 0, size: 2, throttle: null };
  const tasks = [
    record(20, { array, slurm_job_id: 120 }),
    record(21, { array: { ...array, index: 1 }, slurm_job_id: 121 }),
    record(22, { after: [20] }),
  ];
  t.deepEqual(submissionsDue({ jobs: tasks, paused: null }), [{ id: 22, dependency: 'afterok:120:121' }]);
});

test("q with backend: slurm: Slurm's order, expected start, reason, node and fair-share; no reservation of dopq's own", (t) => {
  const config = { ...testConfig('backend: slurm\n') };
  const slurm = (extra: Partial<NonNullable<JobRecord['slurm']>>) => ({
    state: 'PENDING',
    node: null,
    reason: 'Priority',
    priority: 10,
    start_estimate: null,
    ...extra,
  });
  const state: StateFile = {
    version: 1,
    gpus: [],
    daemon: null,
    jobs: [
      record(1, {
        state: 'running',
        started_at: now - 60_000,
        gpus: ['vm:0', 'vm:1'],
        slurm_job_id: 101,
        slurm: slurm({ state: 'RUNNING', node: 'vm', reason: null, priority: null }),
      }),
      record(2, { slurm_job_id: 102, slurm: slurm({ priority: 10, reason: 'Resources', start_estimate: now + 600_000 }) }),
      record(3, { user: 'dopq-bob', slurm_job_id: 103, slurm: slurm({ priority: 90 }) }),
      record(4, { held_by: 'dopq-alice', slurm_job_id: 104, slurm: slurm({ priority: 0, reason: 'JobHeldAdmin' }) }),
    ],
    slurm_shares: {
      at: now,
      rows: [
        { account: 'dopq', user: 'dopq-alice', raw_shares: 1, norm_shares: 0.5, raw_usage: 900, effective_usage: 0.9, fairshare: 0.25 },
        { account: 'dopq', user: 'dopq-bob', raw_shares: 2, norm_shares: 0.5, raw_usage: 10, effective_usage: 0.1, fairshare: 0.75 },
      ],
    },
  };
  const view = buildQueueView(state, [], { now, config, shares: new Map(), daemonAlive: false, all: true });
  const job = (id: number) => view.jobs.find((j) => j.id === id)!;
  t.is(view.backend, 'slurm');
  t.is(view.reservation, null);
  t.deepEqual([job(3).position, job(2).position, job(4).position], [1, 2, null], "Slurm's priority orders the queue");
  t.is(job(2).estimated_start, new Date(now + 600_000).toISOString());
  t.deepEqual(job(2).slurm, { job_id: 102, state: 'PENDING', node: null, reason: 'Resources', priority: 10 });
  t.is(job(4).waiting_for, 'held');
  t.like(job(1), { gpus: ['vm:0', 'vm:1'], slurm: { node: 'vm', state: 'RUNNING' } });
  t.deepEqual(
    view.users.map((u) => [u.user, u.share, u.fairshare]),
    [
      ['dopq-bob', 2, 0.75],
      ['dopq-alice', 1, 0.25],
    ],
  );
  const text = renderQueue(view, { now, colorLevel: 0 });
  t.regex(text, /Priority/, "a queued job without an expected start says Slurm's reason");
  t.regex(text, /fair-share \(Slurm\)/);
  t.regex(text, /vm:0,vm:1/);
  t.regex(text, /GPUs +on Slurm's nodes/);
  t.regex(text, /Policy +Slurm's/);
});
