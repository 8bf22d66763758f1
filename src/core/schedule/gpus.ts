// The GPUs dopq may hand out: a snapshot of the machine's GPUs and which of them are free now.
import type { JobRecord } from '../job/job.js';

export interface GpuInfo {
  /** Stable id: the UUID in `auto` mode, the configured id for a static list. */
  id: string;
  /** nvidia-smi's index, shown to people; for a static list, the position in the list. */
  index: number;
  name?: string;
  memory_total_mib?: number | null;
  memory_used_mib?: number | null;
  utilization?: number | null;
  /** Container ids (64 hex) or `pid:N` of processes on this GPU, as nvidia-smi reports them. */
  processes: string[];
}

export function staticInventory(ids: readonly string[]): GpuInfo[] {
  return ids.map((id, index) => ({ id, index, processes: [] }));
}

/**
 * GPUs free to hand out: not held by a job of ours, and not busy with a process that no job of
 * ours started (someone running outside the queue).
 */
export function freeGpuIds(inventory: readonly GpuInfo[], running: readonly Pick<JobRecord, 'gpus' | 'container_id'>[]): string[] {
  const held = new Set(running.flatMap((job) => job.gpus));
  const ours = new Set(running.map((job) => job.container_id).filter((id): id is string => Boolean(id)));
  return inventory.filter((gpu) => !held.has(gpu.id) && gpu.processes.every((owner) => ours.has(owner))).map((gpu) => gpu.id);
}
