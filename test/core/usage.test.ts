// Usage math and the idle rule: CPU % between cgroup readings, a job's GPUs, the summary a finished job keeps.
import test from 'ava';
import fc from 'fast-check';
import { finishJob, type JobRecord } from '../../src/core/job/job.js';
import {
  addSample,
  cpuPercent,
  gpuUsage,
  heldUtilizations,
  judgeIdle,
  NO_TOTALS,
  sampleUsage,
  summarize,
  type IdleRule,
  type Usage,
} from '../../src/core/job/usage.js';

const reading = (cpu_usec: number, at: number) => ({ cpu_usec, at, memory_bytes: 100, memory_peak_bytes: null, memory_limit_bytes: null });

test('a core busy all the interval is 100%; four cores 400%; none on the first sample', (t) => {
  t.is(cpuPercent(reading(0, 0), reading(10_000_000, 10_000)), 100);
  t.is(cpuPercent(reading(5, 1000), reading(4 * 2_000_000 + 5, 3000)), 400);
  t.is(cpuPercent(undefined, reading(10, 10)), null);
  t.is(cpuPercent(reading(10, 10), reading(20, 10)), null, 'no time passed');
  t.is(cpuPercent(reading(500, 0), reading(10, 1000)), null, 'a counter that went back is a new container');
});

test('CPU % is never negative and scales with the time used', (t) => {
  fc.assert(
    fc.property(fc.nat(10 ** 9), fc.nat(10 ** 9), fc.integer({ min: 1, max: 10 ** 7 }), (start, used, ms) => {
      const percent = cpuPercent(reading(start, 0), reading(start + used, ms))!;
      return percent >= 0 && Math.abs(percent - (used / (ms * 1000)) * 100) <= 0.05 + 1e-9;
    }),
  );
  t.pass();
});

test("a job's GPUs: mean utilization, summed memory; unknown GPUs count for nothing", (t) => {
  const gpus = [
    { id: 'GPU-a', utilization: 80, memory_used_mib: 1000 },
    { id: 'GPU-b', utilization: 20, memory_used_mib: 500 },
    { id: 'GPU-c', utilization: null, memory_used_mib: null },
  ];
  t.deepEqual(gpuUsage(['GPU-a', 'GPU-b'], gpus), { util: 50, memory_mib: 1500 });
  t.deepEqual(gpuUsage(['GPU-c', 'GPU-x'], gpus), { util: null, memory_mib: null });
  t.deepEqual(gpuUsage([], gpus), { util: null, memory_mib: null });
  t.deepEqual(heldUtilizations(['GPU-b', 'GPU-x'], gpus), [20, null]);
});

test('the memory peak never goes down: the kernel high-water mark, now, or the last peak', (t) => {
  const gpu = { util: null, memory_mib: null };
  t.is(sampleUsage(undefined, { ...reading(0, 0), memory_bytes: 50, memory_peak_bytes: 70 }, gpu, 10).memory_peak_bytes, 70);
  t.is(sampleUsage(undefined, { ...reading(0, 0), memory_bytes: 50 }, gpu, 90).memory_peak_bytes, 90);
  t.is(sampleUsage(undefined, { ...reading(0, 0), memory_bytes: 95 }, gpu, 90).memory_peak_bytes, 95);
});

const usage = (cpu: number | null, gpu: number | null, memory = 1): Usage => ({
  cpu_percent: cpu,
  memory_bytes: memory,
  memory_peak_bytes: memory,
  memory_limit_bytes: null,
  gpu_util_percent: gpu,
  gpu_memory_mib: gpu === null ? null : 0,
  sampled_at: '2026-11-29T00:00:00.000Z',
});

test('the summary is the mean and peak of the samples, skipping those without a figure', (t) => {
  const totals = [usage(null, 10), usage(100, 30, 5), usage(50, null, 3)].reduce(addSample, NO_TOTALS);
  t.deepEqual(summarize(totals), {
    cpu_percent_mean: 75,
    cpu_percent_peak: 100,
    memory_peak_bytes: 5,
    gpu_util_percent_mean: 20,
    gpu_util_percent_peak: 30,
  });
  t.is(summarize(undefined), null);
  t.is(summarize(NO_TOTALS), null);
});

test('mean lies between 0 and the peak', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.option(fc.float({ min: 0, max: 6400, noNaN: true })), fc.option(fc.nat(100))), { minLength: 1 }),
      (samples) => {
        const summary = summarize(samples.map(([cpu, gpu]) => usage(cpu, gpu)).reduce(addSample, NO_TOTALS))!;
        const ok = (mean: number | null, peak: number | null) =>
          (mean === null) === (peak === null) && (mean === null || (mean >= 0 && mean <= peak! + 0.05));
        return ok(summary.cpu_percent_mean, summary.cpu_percent_peak) && ok(summary.gpu_util_percent_mean, summary.gpu_util_percent_peak);
      },
    ),
  );
  t.pass();
});

const rule: IdleRule = { threshold: 5, after: 60, action: 'cancel', cancel_after: 120 };

test('idle after `after` under the threshold, cancelled after `cancel_after`; one busy GPU resets it', (t) => {
  const first = judgeIdle([0, 5], undefined, false, rule, 1000);
  t.deepEqual(first, { idle_since: 1000, idle: false, became_idle: false, cancel: false });
  const idle = judgeIdle([0, 5], 1000, false, rule, 61_000);
  t.deepEqual(idle, { idle_since: 1000, idle: true, became_idle: true, cancel: false });
  t.false(judgeIdle([0, 5], 1000, true, rule, 62_000).became_idle, 'announced once');
  t.true(judgeIdle([0], 1000, true, rule, 121_000).cancel);
  t.false(judgeIdle([0], 1000, true, { ...rule, action: 'flag' }, 10 ** 9).cancel);
  t.deepEqual(judgeIdle([0, 6], 1000, true, rule, 200_000), { idle_since: undefined, idle: false, became_idle: false, cancel: false });
});

test('no GPU, or a GPU nvidia-smi does not report, is never idle', (t) => {
  fc.assert(
    fc.property(fc.array(fc.option(fc.nat(100))), fc.nat(10 ** 9), (utils, now) => {
      const verdict = judgeIdle(utils, 0, false, rule, now);
      const under = utils.length > 0 && utils.every((u) => u !== null && u <= rule.threshold);
      return verdict.idle === (under && now >= rule.after * 1000) && (under || verdict.idle_since === undefined);
    }),
  );
  t.pass();
});

test('a finished job keeps its summary and drops the live sample and idle marks; idle-gpus ends cancelled', (t) => {
  const running: JobRecord = {
    id: 1,
    user: 'a',
    uid: 1000,
    name: 'n',
    image: 'i',
    gpus_requested: 1,
    gpus: ['GPU-a'],
    state: 'running',
    submitted_at: 0,
    started_at: 10,
    time_limit: 60,
    usage: usage(100, 0),
    usage_totals: addSample(NO_TOTALS, usage(100, 0)),
    idle_since: 10,
    idle: true,
    stopping: 'idle-gpus',
  };
  const done = finishJob(running, { exitCode: 137, oomKilled: false, finishedAt: 100 });
  t.is(done.state, 'cancelled');
  t.is(done.reason, 'idle-gpus');
  t.deepEqual(done.usage_summary, {
    cpu_percent_mean: 100,
    cpu_percent_peak: 100,
    memory_peak_bytes: 1,
    gpu_util_percent_mean: 0,
    gpu_util_percent_peak: 0,
  });
  t.false('usage' in done || 'usage_totals' in done || 'idle' in done || 'idle_since' in done);
});
