// The idle rule on the GPU poll's snapshot: a poll that keeps failing leaves an old snapshot,
// which must not flag (or, with idle.action: cancel, stop) a job whose GPUs may be busy now.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import type { Config } from '../../src/core/config/config.js';
import type { JobRecord } from '../../src/core/job/job.js';
import type { GpuInfo } from '../../src/core/schedule/gpus.js';
import type { DaemonContext } from '../../src/daemon/context.js';
import { idleToCancel, Telemetry } from '../../src/daemon/telemetry.js';
import { testConfig } from '../core/fixtures.js';

const CONTAINER = 'c'.repeat(64);

async function setup(t: import('ava').ExecutionContext) {
  const root = await mkdtemp(path.join(tmpdir(), 'dopq-telemetry-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const dir = path.join(root, 'docker', CONTAINER);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'cpu.stat'), 'usage_usec 1\n');
  await writeFile(path.join(dir, 'memory.current'), '1\n');
  const config: Config = {
    ...testConfig('gpu_poll_interval: 10s\nidle: {threshold: 5, after: 60s, action: cancel, cancel_after: 120s}'),
    gpus: 'auto',
  };
  const job: JobRecord = {
    id: 1,
    user: 'alice',
    uid: 1001,
    name: 'train',
    image: 'x',
    gpus_requested: 1,
    gpus: ['GPU-0'],
    state: 'running',
    submitted_at: 0,
    started_at: 0,
    container_id: CONTAINER,
    time_limit: 86400,
  };
  let clock = 0;
  const ctx = {
    config,
    now: () => clock,
    state: { jobs: [job] },
    log: { info: () => {}, error: () => {} },
  } as unknown as DaemonContext;
  const at0 = (): GpuInfo[] => [{ id: 'GPU-0', index: 0, utilization: 0, memory_used_mib: 0, processes: [] }];
  let snapshot = at0();
  const telemetry = new Telemetry(ctx, { current: () => snapshot, refresh: async () => {} }, root);
  return {
    ctx,
    telemetry,
    advance: (ms: number) => (clock += ms),
    poll: () => (snapshot = at0()),
    job: () => ctx.state.jobs[0]!,
  };
}

test('GPUs a fresh poll reports at 0% make the job idle, then due for cancel', async (t) => {
  const s = await setup(t);
  for (let i = 0; i <= 13; i++) {
    s.poll();
    await s.telemetry.sample();
    s.advance(10_000);
  }
  t.true(s.job().idle);
  t.deepEqual(idleToCancel(s.ctx), [1]);
});

test('a snapshot the poll has not renewed for minutes is not evidence: the job is neither idle nor cancelled', async (t) => {
  const s = await setup(t);
  // The poll succeeds once at 0% (the job loading its data), then fails every time after.
  for (let i = 0; i <= 13; i++) {
    await s.telemetry.sample();
    s.advance(10_000);
  }
  t.falsy(s.job().idle);
  t.deepEqual(idleToCancel(s.ctx), []);
  t.is(s.job().usage?.gpu_util_percent, null); // unknown, not 0
  // The poll works again: the clock starts from there.
  s.poll();
  await s.telemetry.sample();
  t.falsy(s.job().idle);
});
