// A running job's resource use (CPU, memory, its GPUs), its running summary, and the idle-GPU rule: pure.

/** What usage needs of a GPU in the daemon's inventory (schedule/gpus.ts GpuInfo). */
export interface GpuSample {
  id: string;
  utilization?: number | null;
  memory_used_mib?: number | null;
}

/** One sample of a running job, as `q --json` shows it. */
export interface Usage {
  /** Percent of one core over the last interval (a job busy on 4 cores: 400). Null on the first sample. */
  cpu_percent: number | null;
  memory_bytes: number;
  memory_peak_bytes: number;
  /** The container's memory limit; null when it has none. */
  memory_limit_bytes: number | null;
  /** Mean utilization of the GPUs the job holds; null when it holds none or they are unknown. */
  gpu_util_percent: number | null;
  /** Memory used on the GPUs the job holds, summed; null as above. */
  gpu_memory_mib: number | null;
  sampled_at: string;
}

/** What a finished job keeps of its usage. */
export interface UsageSummary {
  cpu_percent_mean: number | null;
  cpu_percent_peak: number | null;
  memory_peak_bytes: number;
  gpu_util_percent_mean: number | null;
  gpu_util_percent_peak: number | null;
}

/** Running sums from which the summary is made: kept with the running job, so a daemon restart keeps them. */
export interface UsageTotals {
  cpu_samples: number;
  cpu_sum: number;
  cpu_peak: number;
  memory_peak: number;
  gpu_samples: number;
  gpu_sum: number;
  gpu_peak: number;
}

/** What the cgroup says at one instant. */
export interface CgroupReading {
  /** Total CPU time used, in microseconds. */
  cpu_usec: number;
  memory_bytes: number;
  /** The kernel's own high-water mark, when it keeps one (cgroup v1, v2 from Linux 5.19). */
  memory_peak_bytes: number | null;
  memory_limit_bytes: number | null;
  at: number; // ms
}

/** Percent of one core used between two readings; null when they do not make an interval. */
export function cpuPercent(
  before: Pick<CgroupReading, 'cpu_usec' | 'at'> | undefined,
  after: Pick<CgroupReading, 'cpu_usec' | 'at'>,
): number | null {
  if (!before) return null;
  const elapsedUsec = (after.at - before.at) * 1000;
  const used = after.cpu_usec - before.cpu_usec;
  if (elapsedUsec <= 0 || used < 0) return null; // the same instant, or a counter that went back (a new container)
  return round1((used / elapsedUsec) * 100);
}

/** The job's GPUs as nvidia-smi last saw them: mean utilization and summed memory; nulls when none is known. */
export function gpuUsage(held: readonly string[], gpus: readonly GpuSample[]): { util: number | null; memory_mib: number | null } {
  const seen = held
    .map((id) => gpus.find((gpu) => gpu.id === id))
    .filter((gpu) => gpu?.utilization !== undefined && gpu.utilization !== null);
  if (seen.length === 0) return { util: null, memory_mib: null };
  const util = seen.reduce((sum, gpu) => sum + gpu!.utilization!, 0) / seen.length;
  const memory = seen.reduce((sum, gpu) => sum + (gpu!.memory_used_mib ?? 0), 0);
  return { util: round1(util), memory_mib: memory };
}

export function sampleUsage(
  previous: CgroupReading | undefined,
  reading: CgroupReading,
  gpu: { util: number | null; memory_mib: number | null },
  lastPeak: number,
): Usage {
  return {
    cpu_percent: cpuPercent(previous, reading),
    memory_bytes: reading.memory_bytes,
    memory_peak_bytes: Math.max(reading.memory_peak_bytes ?? 0, reading.memory_bytes, lastPeak),
    memory_limit_bytes: reading.memory_limit_bytes,
    gpu_util_percent: gpu.util,
    gpu_memory_mib: gpu.memory_mib,
    sampled_at: new Date(reading.at).toISOString(),
  };
}

export const NO_TOTALS: UsageTotals = { cpu_samples: 0, cpu_sum: 0, cpu_peak: 0, memory_peak: 0, gpu_samples: 0, gpu_sum: 0, gpu_peak: 0 };

export function addSample(totals: UsageTotals, usage: Usage): UsageTotals {
  const cpu = usage.cpu_percent;
  const gpu = usage.gpu_util_percent;
  return {
    cpu_samples: totals.cpu_samples + (cpu === null ? 0 : 1),
    cpu_sum: totals.cpu_sum + (cpu ?? 0),
    cpu_peak: Math.max(totals.cpu_peak, cpu ?? 0),
    memory_peak: Math.max(totals.memory_peak, usage.memory_peak_bytes),
    gpu_samples: totals.gpu_samples + (gpu === null ? 0 : 1),
    gpu_sum: totals.gpu_sum + (gpu ?? 0),
    gpu_peak: Math.max(totals.gpu_peak, gpu ?? 0),
  };
}

/** The summary a finished job keeps; null when it was never sampled. */
export function summarize(totals: UsageTotals | undefined): UsageSummary | null {
  if (!totals || (totals.cpu_samples === 0 && totals.gpu_samples === 0 && totals.memory_peak === 0)) return null;
  return {
    cpu_percent_mean: totals.cpu_samples === 0 ? null : round1(totals.cpu_sum / totals.cpu_samples),
    cpu_percent_peak: totals.cpu_samples === 0 ? null : totals.cpu_peak,
    memory_peak_bytes: totals.memory_peak,
    gpu_util_percent_mean: totals.gpu_samples === 0 ? null : round1(totals.gpu_sum / totals.gpu_samples),
    gpu_util_percent_peak: totals.gpu_samples === 0 ? null : totals.gpu_peak,
  };
}

export interface IdleRule {
  /** Percent: GPUs whose utilization stays at or under it are idle. */
  threshold: number;
  /** Seconds under the threshold before the job is flagged idle. */
  after: number;
  action: 'flag' | 'cancel';
  /** Seconds under the threshold before `action: cancel` stops the job. */
  cancel_after: number;
}

export type IdleVerdict = {
  /** Since when (ms) the job's GPUs are under the threshold; undefined when they are not. */
  idle_since: number | undefined;
  idle: boolean;
  /** The job just became idle (the event to notify). */
  became_idle: boolean;
  cancel: boolean;
};

/**
 * The idle rule over one GPU sample: a job holding no GPU, or GPUs nvidia-smi did not report, is
 * never idle; any GPU over the threshold resets the clock.
 */
export function judgeIdle(
  gpuUtils: readonly (number | null)[],
  since: number | undefined,
  wasIdle: boolean,
  rule: IdleRule,
  now: number,
): IdleVerdict {
  const under = gpuUtils.length > 0 && gpuUtils.every((util) => util !== null && util <= rule.threshold);
  if (!under) return { idle_since: undefined, idle: false, became_idle: false, cancel: false };
  const start = since ?? now;
  const idle = now - start >= rule.after * 1000;
  return {
    idle_since: start,
    idle,
    became_idle: idle && !wasIdle,
    cancel: rule.action === 'cancel' && now - start >= rule.cancel_after * 1000,
  };
}

/** Each held GPU's utilization, null where nvidia-smi did not report it. */
export function heldUtilizations(held: readonly string[], gpus: readonly GpuSample[]): (number | null)[] {
  return held.map((id) => gpus.find((gpu) => gpu.id === id)?.utilization ?? null);
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
