// nvidia-smi, behind one call: a snapshot of the GPUs with the containers using each one.
// Run asynchronously with a deadline: without persistence mode one call can take many seconds.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { UnavailableError } from '../../core/errors.js';
import type { GpuInfo } from '../../core/schedule/gpus.js';
import { APPS_QUERY, containerOfCgroup, GPU_QUERY, parseAppsQuery, parseGpuQuery } from '../../core/schedule/nvidia-smi-parse.js';

const run = promisify(execFile);

async function smi(command: string, args: string[], timeoutMs: number): Promise<string> {
  try {
    const { stdout } = await run(command, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    throw new UnavailableError(command, `nvidia-smi failed: ${(error as Error).message.split('\n')[0]}`, {
      hint: 'install the NVIDIA driver, or list the GPUs in the config (gpus: [0, 1])',
      cause: error,
    });
  }
}

async function ownerOfPid(pid: number): Promise<string> {
  try {
    return containerOfCgroup(await readFile(`/proc/${pid}/cgroup`, 'utf8')) ?? `pid:${pid}`;
  } catch {
    return `pid:${pid}`; // exited meanwhile, or another pid namespace: still counts as busy
  }
}

export async function queryGpus(command: string, timeoutMs = 30_000): Promise<GpuInfo[]> {
  const [gpuText, appsText] = await Promise.all([
    smi(command, [`--query-gpu=${GPU_QUERY}`, '--format=csv,nounits'], timeoutMs),
    smi(command, [`--query-compute-apps=${APPS_QUERY}`, '--format=csv,nounits'], timeoutMs),
  ]);
  const processes = parseAppsQuery(appsText);
  const owners = await Promise.all(processes.map((p) => ownerOfPid(p.pid)));
  return parseGpuQuery(gpuText).map((gpu) => ({
    id: gpu.uuid,
    index: gpu.index,
    name: gpu.name,
    memory_total_mib: gpu.memory_total_mib,
    memory_used_mib: gpu.memory_used_mib,
    utilization: gpu.utilization,
    processes: [...new Set(processes.flatMap((p, i) => (p.gpu_uuid === gpu.uuid ? [owners[i]!] : [])))],
  }));
}
