// A config for core tests, built by the real parser from a small YAML text.
import { parseConfig, type Config } from '../../src/core/config/config.js';
import { groupQueues, type QueuedJob } from '../../src/core/schedule/queue-order.js';
import type { SchedulerInput } from '../../src/core/schedule/scheduler.js';

export function testConfig(extra = ''): Config {
  return parseConfig(
    `spool: /srv/dopq/spool
gpus: [0, 1, 2, 3]
gpu_assignment: env
defaults: {gpus: 1, memory: 1g, cpus: 1, shm: 64m, time_limit: 1h}
limits: {gpus: 4, memory: 8g, cpus: 8, shm: 1g, time_limit: 2d}
mounts: {allowed_roots: [/data]}
${extra}`,
    '/etc/dopq/dopq.yaml',
  );
}

/** GPU ids g0..g(n-1), for scheduler inputs. */
export const gpuIds = (n: number): string[] => Array.from({ length: n }, (_, i) => `g${i}`);

/** A scheduler input: fair share, nothing running, no usage, the given queue on `free` GPUs. */
export function fairshareInput(queued: QueuedJob[], now: number, free: number, extra: Partial<SchedulerInput> = {}): SchedulerInput {
  return {
    policy: 'fairshare',
    now,
    free: gpuIds(free),
    running: [],
    queues: groupQueues(queued),
    usage: new Map(),
    shares: new Map(),
    running_weight: 3600,
    history: [],
    classic_history: 100,
    max_gpus_per_user: null,
    paused: false,
    ...extra,
  };
}
