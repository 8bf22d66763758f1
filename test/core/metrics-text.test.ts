// The Prometheus text renderer, the wait histogram's buckets, and the queue's metrics.
import test from 'ava';
import fc from 'fast-check';
import { escapeLabelValue, histogramSamples, renderExposition } from '../../src/core/metrics/prometheus-text.js';
import { queueMetrics, WAIT_BUCKETS } from '../../src/core/metrics/queue-metrics.js';
import { parseConfig } from '../../src/core/config/config.js';
import type { QueueView } from '../../src/core/view/queue-view.js';

test('HELP, TYPE and samples, labels escaped, infinities by name', (t) => {
  const text = renderExposition([
    { name: 'a_total', help: 'line\none \\ two', type: 'counter', samples: [{ labels: { user: 'x"y\\z\nw' }, value: 3 }] },
    { name: 'b', help: 'b', type: 'gauge', samples: [{ value: Infinity }, { labels: { k: 'v' }, value: NaN }] },
  ]);
  t.is(
    text,
    [
      '# HELP a_total line\\none \\\\ two',
      '# TYPE a_total counter',
      'a_total{user="x\\"y\\\\z\\nw"} 3',
      '# HELP b b',
      '# TYPE b gauge',
      'b +Inf',
      'b{k="v"} NaN',
      '',
    ].join('\n'),
  );
});

test('bad metric or label names and a family twice are refused', (t) => {
  t.throws(() => renderExposition([{ name: '1x', help: '', type: 'gauge', samples: [] }]));
  t.throws(() => renderExposition([{ name: 'x', help: '', type: 'gauge', samples: [{ labels: { 'a-b': '1' }, value: 1 }] }]));
  const x = { name: 'x', help: '', type: 'gauge' as const, samples: [] };
  t.throws(() => renderExposition([x, x]));
});

test('histogram buckets are cumulative, end at +Inf = count, and sum the observations', (t) => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: 0, max: 1e6, noNaN: true })), (values) => {
      const samples = histogramSamples(values, WAIT_BUCKETS);
      const buckets = samples.filter((sample) => sample.suffix === '_bucket');
      t.is(buckets.length, WAIT_BUCKETS.length + 1);
      for (let i = 1; i < buckets.length; i++) if (buckets[i]!.value < buckets[i - 1]!.value) return false;
      for (const [i, bound] of WAIT_BUCKETS.entries()) if (buckets[i]!.value !== values.filter((v) => v <= bound).length) return false;
      const count = samples.find((sample) => sample.suffix === '_count')!.value;
      const sum = samples.find((sample) => sample.suffix === '_sum')!.value;
      return (
        buckets.at(-1)!.labels!['le'] === '+Inf' &&
        buckets.at(-1)!.value === values.length &&
        count === values.length &&
        Math.abs(sum - values.reduce((a, b) => a + b, 0)) < 1e-6
      );
    }),
  );
});

test('a label value round-trips through the escape', (t) => {
  fc.assert(
    fc.property(fc.string(), (value) => {
      const unescaped = escapeLabelValue(value).replace(/\\(["\\n])/g, (_m, c: string) => (c === 'n' ? '\n' : c));
      return unescaped === value;
    }),
  );
  t.pass();
});

const job = (over: Partial<QueueView['jobs'][number]>): QueueView['jobs'][number] =>
  ({
    id: 1,
    name: 'j',
    user: 'alice',
    state: 'running',
    gpus: [],
    submitted_at: '2026-01-01T00:00:00.000Z',
    started_at: null,
    ...over,
  }) as QueueView['jobs'][number];

function view(): QueueView {
  return {
    daemon: { running: true, pid: 1, since: null, host: 'h', engine: { reachable: false, since: null, error: 'x' }, state_not_saved: null },
    policy: 'fairshare',
    paused: null,
    reservation: null,
    gpus: [
      { id: 'g0', index: 0, name: null, state: 'held', job: 1 },
      { id: 'g1', index: 1, name: null, state: 'held', job: 2 },
      { id: 'g2', index: 2, name: null, state: 'free', job: null },
      { id: 'g3', index: 3, name: null, state: 'busy', job: null },
    ],
    gpus_free: 1,
    gpus_total: 4,
    gpus_source: 'daemon',
    jobs: [
      job({ id: 1, gpus: ['g0'], started_at: '2026-01-01T00:00:20.000Z' }),
      { ...job({ id: 2, user: 'bob', gpus: ['g1'], started_at: '2026-01-01T01:00:00.000Z' }), idle: true } as QueueView['jobs'][number],
      job({ id: 3, state: 'queued' }),
      job({ id: 4, state: 'done', started_at: '2026-01-01T00:00:05.000Z' }),
    ],
    users: [
      { user: 'alice', share: 1, usage_gpu_hours: 2.5, penalty: 2.5, running: 1, queued: 1, gpus_held: 1 },
      { user: 'bob', share: 2, usage_gpu_hours: 1, penalty: 0.5, running: 1, queued: 0, gpus_held: 1 },
    ],
    generated_at: '2026-01-01T02:00:00.000Z',
  };
}

test('the queue as metrics: jobs by state and user, GPUs free/held/idle/foreign, waits, users, pass', (t) => {
  const text = renderExposition(queueMetrics(view(), { lastPass: { at: 1_767_225_600_000, ms: 42 } }));
  const lines = new Set(text.split('\n'));
  for (const line of [
    'dopq_daemon_up 1',
    'dopq_engine_reachable 0',
    'dopq_jobs{state="running",user="alice"} 1',
    'dopq_jobs{state="running",user="bob"} 1',
    'dopq_jobs{state="queued",user="alice"} 1',
    'dopq_jobs{state="done",user="alice"} 1',
    'dopq_gpus{state="free"} 1',
    'dopq_gpus{state="held"} 1',
    'dopq_gpus{state="idle"} 1',
    'dopq_gpus{state="foreign"} 1',
    'dopq_gpus_scheduled 4',
    'dopq_job_wait_seconds_bucket{le="10"} 1',
    'dopq_job_wait_seconds_bucket{le="30"} 2',
    'dopq_job_wait_seconds_bucket{le="3600"} 3',
    'dopq_job_wait_seconds_bucket{le="+Inf"} 3',
    'dopq_job_wait_seconds_sum 3625',
    'dopq_job_wait_seconds_count 3',
    'dopq_user_usage_gpu_seconds{user="alice"} 9000',
    'dopq_user_penalty{user="bob"} 0.5',
    'dopq_user_share{user="bob"} 2',
    'dopq_user_gpus_held{user="alice"} 1',
    'dopq_pass_duration_seconds 0.042',
    'dopq_last_pass_timestamp_seconds 1767225600',
  ])
    t.true(lines.has(line), line);
});

test('metrics.listen is off by default and takes host:port, IPv6 in brackets', (t) => {
  t.deepEqual(parseConfig('spool: /s\n', '/c.yaml').metrics, { listen: null, user: null });
  t.deepEqual(parseConfig('spool: /s\nmetrics: {listen: "127.0.0.1:9464"}\n', '/c.yaml').metrics.listen, { host: '127.0.0.1', port: 9464 });
  t.deepEqual(parseConfig('spool: /s\nmetrics: {listen: "[::1]:9464", user: dopq}\n', '/c.yaml').metrics, {
    listen: { host: '::1', port: 9464 },
    user: 'dopq',
  });
  t.throws(() => parseConfig('spool: /s\nmetrics: {listen: "9464"}\n', '/c.yaml'));
  t.throws(() => parseConfig('spool: /s\nmetrics: {listen: "h:70000"}\n', '/c.yaml'));
});
