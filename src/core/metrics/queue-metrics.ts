// What `dopq metrics` and the daemon's /metrics expose: q's view of the queue as metric families.
// The source is the same view `dopq q --json` prints, so the numbers match what users see.
import type { QueueView } from '../view/queue-view.js';
import { histogramSamples, type MetricFamily, type Sample } from './prometheus-text.js';

/** Upper bounds (seconds) of the wait-time histogram: 10 s to 2 days, as a queue's waits spread. */
export const WAIT_BUCKETS = [10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800] as const;

const JOB_STATES = ['queued', 'building', 'running', 'done', 'failed', 'cancelled', 'rejected'] as const;

export interface MetricsExtras {
  /** The daemon's last finished pass: when it ended (ms) and how long it took; null when unknown. */
  lastPass: { at: number; ms: number } | null;
}

/** A job flagged idle by telemetry (absent before telemetry runs: not idle). */
const isIdle = (job: QueueView['jobs'][number]): boolean => (job as { idle?: unknown }).idle === true;

export function queueMetrics(view: QueueView, extras: MetricsExtras): MetricFamily[] {
  const seconds = (iso: string | null): number | null => (iso === null ? null : Date.parse(iso) / 1000);

  const jobCounts = new Map<string, { state: string; user: string; count: number }>();
  for (const job of view.jobs) {
    const key = `${job.state}\0${job.user}`;
    const entry = jobCounts.get(key) ?? { state: job.state, user: job.user, count: 0 };
    entry.count += 1;
    jobCounts.set(key, entry);
  }
  const jobSamples: Sample[] = [...jobCounts.values()]
    .sort((a, b) => JOB_STATES.indexOf(a.state as never) - JOB_STATES.indexOf(b.state as never) || a.user.localeCompare(b.user))
    .map(({ state, user, count }) => ({ labels: { state, user }, value: count }));

  const idleGpuIds = new Set(view.jobs.filter((job) => job.state === 'running' && isIdle(job)).flatMap((job) => job.gpus));
  const gpuCounts = { free: 0, held: 0, idle: 0, foreign: 0 };
  for (const gpu of view.gpus) {
    if (gpu.state === 'free') gpuCounts.free += 1;
    else if (gpu.state === 'busy') gpuCounts.foreign += 1;
    else if (idleGpuIds.has(gpu.id)) gpuCounts.idle += 1;
    else gpuCounts.held += 1;
  }

  const waits = view.jobs.flatMap((job) => {
    const started = seconds(job.started_at);
    const submitted = seconds(job.submitted_at);
    return started === null || submitted === null ? [] : [Math.max(0, started - submitted)];
  });

  const perUser = (pick: (user: QueueView['users'][number]) => number | null): Sample[] =>
    view.users.flatMap((user) => {
      const value = pick(user);
      return value === null ? [] : [{ labels: { user: user.user }, value }];
    });

  const families: MetricFamily[] = [
    {
      name: 'dopq_daemon_up',
      help: 'Whether a dopq daemon is running (1) or not (0).',
      type: 'gauge',
      samples: [{ value: view.daemon.running ? 1 : 0 }],
    },
    {
      name: 'dopq_engine_reachable',
      help: 'Whether the daemon reaches the Docker engine (1) or not (0); absent while no daemon has said.',
      type: 'gauge',
      samples: view.daemon.engine ? [{ value: view.daemon.engine.reachable ? 1 : 0 }] : [],
    },
    { name: 'dopq_paused', help: 'Whether an admin paused starts (dopq pause).', type: 'gauge', samples: [{ value: view.paused ? 1 : 0 }] },
    {
      name: 'dopq_jobs',
      help: 'Jobs in the state by state and owner (finished ones until history.keep prunes them).',
      type: 'gauge',
      samples: jobSamples,
    },
    {
      name: 'dopq_gpus',
      help: 'GPUs by state: free, held by a job, held by a job flagged idle, or busy with processes dopq did not start (foreign).',
      type: 'gauge',
      samples: (['free', 'held', 'idle', 'foreign'] as const).map((state) => ({ labels: { state }, value: gpuCounts[state] })),
    },
    { name: 'dopq_gpus_scheduled', help: 'GPUs dopq schedules on.', type: 'gauge', samples: [{ value: view.gpus_total }] },
    {
      name: 'dopq_job_wait_seconds',
      help: 'Time from submission to start of the jobs in the state that have started.',
      type: 'histogram',
      samples: histogramSamples(waits, WAIT_BUCKETS),
    },
    {
      name: 'dopq_user_usage_gpu_seconds',
      help: "A user's decayed GPU-seconds of finished and running work (what fair share weighs; q shows it in GPU-hours).",
      type: 'gauge',
      samples: perUser((user) => user.usage_gpu_hours * 3600),
    },
    {
      name: 'dopq_user_penalty',
      help: "A user's penalty under the policy (lower starts first); absent under fifo.",
      type: 'gauge',
      samples: perUser((user) => user.penalty),
    },
    { name: 'dopq_user_share', help: "A user's share of the GPUs.", type: 'gauge', samples: perUser((user) => user.share) },
    { name: 'dopq_user_gpus_held', help: "GPUs held by a user's running jobs.", type: 'gauge', samples: perUser((user) => user.gpus_held) },
    {
      name: 'dopq_pass_duration_seconds',
      help: "How long the daemon's last recorded pass took.",
      type: 'gauge',
      samples: extras.lastPass ? [{ value: extras.lastPass.ms / 1000 }] : [],
    },
    {
      name: 'dopq_last_pass_timestamp_seconds',
      help: "When the daemon's last recorded pass ended (Unix time).",
      type: 'gauge',
      samples: extras.lastPass ? [{ value: extras.lastPass.at / 1000 }] : [],
    },
    {
      name: 'dopq_view_timestamp_seconds',
      help: 'When this view of the queue was built (Unix time).',
      type: 'gauge',
      samples: [{ value: seconds(view.generated_at) ?? 0 }],
    },
  ];
  return families;
}
