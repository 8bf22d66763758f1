// Usage samples of running jobs every `telemetry.interval`, off the pass: cgroup files for CPU
// and memory, the GPU poll's latest snapshot for the GPUs each job holds, and the idle rule.
// The pass that follows saves them (and stops a job the rule cancels, pass.ts).
import type { DaemonContext } from './context.js';
import { jobById, replaceJob } from './context.js';
import type { GpuSource } from './gpu-source.js';
import type { JobRecord } from '../core/job/job.js';
import {
  addSample,
  gpuUsage,
  heldUtilizations,
  judgeIdle,
  NO_TOTALS,
  sampleUsage,
  type CgroupReading,
  type GpuSample,
} from '../core/job/usage.js';
import { ContainerCgroups } from '../io/host/container-cgroup.js';

/** A GPU snapshot not renewed for this many polls (and at least a minute) is stale: a poll that keeps failing keeps the last one. */
const STALE_POLLS = 3;
const STALE_MIN_MS = 60_000;

export class Telemetry {
  /** Called once when a running job becomes idle (its GPUs under `idle.threshold` for `idle.after`): the hook for notifications. */
  onIdle: (job: JobRecord) => void = () => {};
  private readonly cgroups: ContainerCgroups;
  private readonly previous = new Map<string, CgroupReading>();
  private sampling = false;
  /** The GPU snapshot last seen, and since when (ms): each successful poll gives a new one. */
  private snapshot: readonly GpuSample[] | undefined;
  private snapshotSince = 0;

  constructor(
    private readonly ctx: DaemonContext,
    private readonly gpus: GpuSource,
    cgroupRoot?: string,
  ) {
    this.cgroups = new ContainerCgroups(cgroupRoot);
  }

  /** One sample of every running job; false when one was still under way or nothing ran. */
  async sample(): Promise<boolean> {
    if (this.sampling) return false;
    this.sampling = true;
    try {
      const running = this.ctx.state.jobs.filter((job) => job.state === 'running' && job.container_id && job.started_at !== undefined);
      const readings = await Promise.all(running.map((job) => this.cgroups.read(job.container_id!, this.ctx.now())));
      const containers = new Set(running.map((job) => job.container_id!));
      this.cgroups.keepOnly(containers);
      for (const id of this.previous.keys()) if (!containers.has(id)) this.previous.delete(id);
      const rule = this.ctx.config.idle;
      const now = this.ctx.now();
      const inventory = this.freshInventory(now);
      running.forEach((seen, i) => {
        const reading = readings[i];
        const job = jobById(this.ctx, seen.id); // as it is now: a pass may have replaced it meanwhile
        if (!reading || !job || job.state !== 'running' || job.container_id !== seen.container_id) return;
        const usage = sampleUsage(
          this.previous.get(job.container_id!),
          reading,
          gpuUsage(job.gpus, inventory),
          job.usage?.memory_peak_bytes ?? 0,
        );
        this.previous.set(job.container_id!, reading);
        const verdict = judgeIdle(heldUtilizations(job.gpus, inventory), job.idle_since, job.idle === true, rule, now);
        const { idle_since: _s, idle: _i, ...rest } = job;
        const next: JobRecord = {
          ...rest,
          usage,
          usage_totals: addSample(job.usage_totals ?? NO_TOTALS, usage),
          ...(verdict.idle_since !== undefined ? { idle_since: verdict.idle_since } : {}),
          ...(verdict.idle ? { idle: true as const } : {}),
        };
        replaceJob(this.ctx, next);
        if (verdict.became_idle) {
          this.ctx.log.info(`its GPUs stayed under ${rule.threshold}% for ${rule.after}s: idle`, job.id);
          try {
            this.onIdle(next);
          } catch (error) {
            this.ctx.log.error(`idle hook: ${(error as Error).message}`, job.id);
          }
        }
      });
      return running.length > 0;
    } finally {
      this.sampling = false;
    }
  }

  /**
   * The GPU poll's snapshot, or none while it is stale: utilization nvidia-smi reported minutes ago
   * (a poll that fails keeps the last snapshot, for the scheduler) must not make a job idle, or
   * cancel one that is busy now. Unknown GPUs are never idle.
   */
  private freshInventory(now: number): readonly GpuSample[] {
    const current = this.gpus.current();
    if (current !== this.snapshot) {
      this.snapshot = current;
      this.snapshotSince = now;
    }
    const { gpus, gpu_poll_interval: poll } = this.ctx.config;
    return gpus === 'auto' && now - this.snapshotSince > Math.max(STALE_MIN_MS, STALE_POLLS * poll * 1000) ? [] : current;
  }
}

/** Running jobs whose GPUs stayed idle past `idle.cancel_after`, when `idle.action: cancel`. */
export function idleToCancel(ctx: DaemonContext): number[] {
  const { idle } = ctx.config;
  if (idle.action !== 'cancel' || ctx.config.telemetry.interval <= 0) return [];
  const now = ctx.now();
  return ctx.state.jobs
    .filter(
      (job) =>
        job.state === 'running' &&
        !job.stopping &&
        job.idle &&
        job.idle_since !== undefined &&
        now - job.idle_since >= idle.cancel_after * 1000,
    )
    .map((job) => job.id);
}
