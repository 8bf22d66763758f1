// The GPU inventory: a static list from the config, or nvidia-smi polled off the scheduling path
// (the scheduler only ever reads the latest snapshot). A reload swaps in a new one.
import type { Config } from '../core/config/config.js';
import { staticInventory, type GpuInfo } from '../core/schedule/gpus.js';
import { queryGpus } from '../io/host/nvidia-smi.js';

export interface GpuSource {
  current(): GpuInfo[];
  refresh(): Promise<void>;
}

export async function createGpuSource(config: Config): Promise<GpuSource> {
  // Slurm hands out the nodes' GPUs: this host may have none, and keeps no inventory.
  if (config.backend === 'slurm') return { current: () => [], refresh: async () => undefined };
  if (config.gpus !== 'auto') {
    const inventory = staticInventory(config.gpus);
    return { current: () => inventory, refresh: async () => undefined };
  }
  let snapshot = await queryGpus(config.nvidia_smi); // fails fast at start: no silent zero-GPU daemon
  return {
    current: () => snapshot,
    async refresh() {
      snapshot = await queryGpus(config.nvidia_smi);
    },
  };
}

/** A source whose inventory a config reload replaces; what holds it sees the new one from then on. */
export function swappableGpuSource(initial: GpuSource): GpuSource & { swap(next: GpuSource): void } {
  let inner = initial;
  return {
    current: () => inner.current(),
    refresh: () => inner.refresh(),
    swap(next) {
      inner = next;
    },
  };
}
