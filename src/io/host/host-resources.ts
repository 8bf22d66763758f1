// This host's CPUs and memory as a process here sees them, without the engine (push stays fast
// and engine-free): the CPUs this process may run on (its affinity, which is how the engine
// counts NCPU) and the machine's memory (the engine's MemTotal).
import { availableParallelism, totalmem } from 'node:os';
import type { HostFigures } from '../../core/config/config.js';

export function localHostFigures(): HostFigures {
  return { cpus: availableParallelism(), memory: totalmem(), source: "this host's" };
}
