// A container's CPU time and memory read straight from its cgroup files: a few small reads per
// sample, where the engine's stats API would hold a stream open and take a second per container.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { CgroupReading } from '../../core/job/usage.js';

/** Where one container's counters are, once found. */
interface CgroupFiles {
  cpu: string;
  /** 'usec': cgroup v2's cpu.stat usage_usec; 'nsec': v1's cpuacct.usage. */
  cpuUnit: 'usec' | 'nsec';
  memory: string;
  memoryPeak: string;
  memoryLimit: string;
  /** memory.stat, whose inactive file pages `docker stats` leaves out of the usage (the kernel may drop them). */
  memoryStat: string;
  inactiveKey: 'inactive_file' | 'total_inactive_file';
}

/** A container id as the engine writes it (the full 64 hex digits, or a short prefix). */
const CONTAINER_ID = /^[0-9a-f]{12,64}$/;

/** No limit: v2 writes `max`, v1 a page-rounded 2^63. */
const NO_LIMIT = 2 ** 62;

function candidates(root: string, id: string): CgroupFiles[] {
  const v2 = (dir: string): CgroupFiles => ({
    cpu: path.join(dir, 'cpu.stat'),
    cpuUnit: 'usec',
    memory: path.join(dir, 'memory.current'),
    memoryPeak: path.join(dir, 'memory.peak'),
    memoryLimit: path.join(dir, 'memory.max'),
    memoryStat: path.join(dir, 'memory.stat'),
    inactiveKey: 'inactive_file',
  });
  const v1 = (cpuDir: string, memoryDir: string): CgroupFiles => ({
    cpu: path.join(cpuDir, 'cpuacct.usage'),
    cpuUnit: 'nsec',
    memory: path.join(memoryDir, 'memory.usage_in_bytes'),
    memoryPeak: path.join(memoryDir, 'memory.max_usage_in_bytes'),
    memoryLimit: path.join(memoryDir, 'memory.limit_in_bytes'),
    memoryStat: path.join(memoryDir, 'memory.stat'),
    inactiveKey: 'total_inactive_file',
  });
  return [
    v2(path.join(root, 'docker', id)), // cgroupfs driver
    v2(path.join(root, 'system.slice', `docker-${id}.scope`)), // systemd driver
    v1(path.join(root, 'cpuacct', 'docker', id), path.join(root, 'memory', 'docker', id)),
    v1(path.join(root, 'cpuacct', 'system.slice', `docker-${id}.scope`), path.join(root, 'memory', 'system.slice', `docker-${id}.scope`)),
  ];
}

async function number(file: string): Promise<number | null> {
  const text = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (text === '' || text === 'max') return null;
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}

async function cpuUsec(files: CgroupFiles): Promise<number> {
  const text = await readFile(files.cpu, 'utf8');
  if (files.cpuUnit === 'nsec') return Number(text.trim()) / 1000;
  const line = /^usage_usec (\d+)$/m.exec(text);
  if (!line) throw new Error(`no usage_usec in ${files.cpu}`);
  return Number(line[1]);
}

async function inactiveFile(files: CgroupFiles): Promise<number> {
  const text = await readFile(files.memoryStat, 'utf8').catch(() => '');
  const line = new RegExp(`^${files.inactiveKey} (\\d+)$`, 'm').exec(text);
  return line ? Number(line[1]) : 0;
}

/** Reads containers' cgroups; remembers where each one's files are. */
export class ContainerCgroups {
  private readonly found = new Map<string, CgroupFiles>();

  constructor(private readonly root = '/sys/fs/cgroup') {}

  /** The container's counters now; null when its cgroup is gone or was never found. */
  async read(containerId: string, now: number): Promise<CgroupReading | null> {
    // The id goes into paths read as root: only the engine's hex form, never `..` or a slash.
    if (!CONTAINER_ID.test(containerId)) return null;
    let files = this.found.get(containerId);
    if (!files) {
      for (const candidate of candidates(this.root, containerId)) {
        if ((await cpuUsec(candidate).catch(() => null)) !== null) {
          files = candidate;
          break;
        }
      }
      if (!files) return null;
      this.found.set(containerId, files);
    }
    try {
      const [cpu, memory, peak, limit, inactive] = await Promise.all([
        cpuUsec(files),
        number(files.memory),
        number(files.memoryPeak),
        number(files.memoryLimit),
        inactiveFile(files),
      ]);
      return {
        cpu_usec: cpu,
        memory_bytes: Math.max(0, (memory ?? 0) - inactive), // as `docker stats` counts it
        memory_peak_bytes: peak,
        memory_limit_bytes: limit === null || limit >= NO_LIMIT ? null : limit,
        at: now,
      };
    } catch {
      this.found.delete(containerId); // gone: the container ended
      return null;
    }
  }

  /** Forget containers no longer running. */
  keepOnly(containerIds: ReadonlySet<string>): void {
    for (const id of this.found.keys()) if (!containerIds.has(id)) this.found.delete(id);
  }
}
