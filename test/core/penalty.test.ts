import test from 'ava';
import fc from 'fast-check';
import { decayedGpuSeconds, penalties } from '../../src/core/schedule/penalty.js';

const H = 3600;

test('without decay (huge half-life) penalty is plain GPU-seconds', (t) => {
  const value = decayedGpuSeconds(2, 0, 100_000, 100_000, 1e12);
  t.true(Math.abs(value - 200) < 1e-3);
});

test('usage one half-life ago weighs half as much as usage now', (t) => {
  const now = 10 * H * 1000;
  const recent = decayedGpuSeconds(1, now - 1000, now, now, H);
  const old = decayedGpuSeconds(1, now - H * 1000 - 1000, now - H * 1000, now, H);
  t.true(Math.abs(old / recent - 0.5) < 1e-3);
});

test('running jobs count up to now; queued and unstarted jobs do not', (t) => {
  const now = 1_000_000;
  const result = penalties(
    [
      { user: 'a', gpus: ['0', '1'], started_at: now - 10_000, state: 'running' },
      { user: 'b', gpus: [], started_at: undefined, state: 'queued' },
      { user: 'c', gpus: ['2'], started_at: now - 20_000, finished_at: now - 10_000, state: 'done' },
    ],
    now,
    1e12,
  );
  t.true(Math.abs(result.get('a')! - 20) < 1e-6);
  t.false(result.has('b'));
  t.true(Math.abs(result.get('c')! - 10) < 1e-6);
});

test('property: penalty grows with GPUs and duration, and never exceeds raw GPU-seconds', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 0, max: 1e7 }),
      fc.integer({ min: 1, max: 1e7 }),
      fc.integer({ min: 60, max: 1e7 }),
      (gpus, ago, length, halfLife) => {
        const now = 2e10;
        const end = now - ago;
        const start = end - length;
        const value = decayedGpuSeconds(gpus, start, end, now, halfLife);
        const more = decayedGpuSeconds(gpus + 1, start, end, now, halfLife);
        const longer = decayedGpuSeconds(gpus, start - 1000, end, now, halfLife);
        return value >= 0 && value <= (gpus * length) / 1000 + 1e-6 && more > value && longer >= value;
      },
    ),
  );
  t.pass();
});
