// A busy queue as `dopq q` sees it, with long names and details (131 columns of Finished, as
// issue 14 found): the fixture of render-fit.test.ts.
import type { JobView, QueueView, UserView } from '../../src/core/view/queue-view.js';

export const now = Date.parse('2026-11-29T13:30:00Z');
export const iso = (ms: number) => new Date(ms).toISOString();
export const HOUR = 3600_000;

export const job = (fields: Partial<JobView> & Pick<JobView, 'id' | 'user' | 'name' | 'state'>): JobView => ({
  gpus: [],
  gpus_requested: 1,
  penalty: null,
  position: null,
  estimated_start: null,
  waiting_for: null,
  held_by: null,
  submitted_at: iso(now - 2 * HOUR),
  started_at: null,
  finished_at: null,
  exit_code: null,
  reason: null,
  message: null,
  image: 'img',
  time_limit: 3600,
  ingested: true,
  attempt: 1,
  array: null,
  after: [],
  after_any: [],
  interactive: false,
  usage: null,
  idle: false,
  usage_summary: null,
  ...fields,
});

export const user = (name: string, usage: number, running: number, queued: number): UserView => ({
  user: name,
  share: 1,
  usage_gpu_hours: usage,
  penalty: usage,
  running,
  queued,
  gpus_held: running * 2,
});

/** A busy queue with long names and details: 131 columns of Finished, as the issue found. */
export const busy: QueueView = {
  daemon: { running: true, pid: 42, since: iso(now - 26 * HOUR), host: 'gpu1', engine: null, state_not_saved: null },
  policy: 'fairshare',
  paused: null,
  reservation: { job: 2, at: iso(now + 2 * HOUR), gpus: ['1', '0'] },
  gpus: ['0', '1', '2', '3'].map((id, index) => ({
    id,
    index,
    name: null,
    state: index < 2 ? ('held' as const) : index === 2 ? ('free' as const) : ('busy' as const),
    job: index < 2 ? 1 : null,
  })),
  gpus_free: 1,
  gpus_total: 4,
  gpus_source: 'daemon',
  jobs: [
    job({
      id: 1,
      user: 'alice',
      name: 'train-resnet50-imagenet-full-precision-long-run',
      state: 'running',
      gpus: ['0', '1'],
      gpus_requested: 2,
      started_at: iso(now - HOUR),
    }),
    job({
      id: 2,
      user: 'bob',
      name: 'sweep-lr-0.001-batch-256-warmup-cosine',
      state: 'queued',
      gpus_requested: 2,
      position: 1,
      estimated_start: iso(now + 2 * HOUR),
      waiting_for: 'reserved',
    }),
    job({ id: 3, user: 'carol', name: '?', state: 'queued', gpus_requested: 0, position: 2, ingested: false, waiting_for: 'too-big' }),
    job({
      id: 4,
      user: 'alice',
      name: 'eval',
      state: 'done',
      started_at: iso(now - 3 * HOUR),
      finished_at: iso(now - 2.5 * HOUR),
      exit_code: 0,
      reason: 'exited',
    }),
    job({
      id: 5,
      user: 'bob',
      name: 'preprocess-the-entire-dataset-again',
      state: 'failed',
      started_at: iso(now - 5 * HOUR),
      finished_at: iso(now - 4 * HOUR),
      exit_code: 137,
      reason: 'time-limit',
      message: 'stopped at its time limit of 1h; set time_limit in the manifest for longer runs',
    }),
    job({
      id: 6,
      user: 'carol',
      name: 'bad',
      state: 'rejected',
      finished_at: iso(now - 6 * HOUR),
      reason: 'rejected',
      message: 'line 3: gpus: expected a whole number of GPUs, got "two"\nline 4: memory: expected a size',
    }),
  ],
  users: [user('carol', 0, 0, 1), user('bob', 1.25, 0, 1), user('alice', 12.5, 1, 0)],
  generated_at: iso(now),
};
