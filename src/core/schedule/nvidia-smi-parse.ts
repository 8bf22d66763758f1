// nvidia-smi CSV -> GPU snapshot. Parsed by header, since column order and the [N/A] markers are
// not promised stable across driver versions.

export interface SmiGpu {
  index: number;
  uuid: string;
  name: string;
  memory_total_mib: number | null;
  memory_used_mib: number | null;
  utilization: number | null;
}

export interface SmiProcess {
  gpu_uuid: string;
  pid: number;
  used_memory_mib: number | null;
}

export const GPU_QUERY = 'index,uuid,name,memory.total,memory.used,utilization.gpu';
export const APPS_QUERY = 'gpu_uuid,pid,used_memory';

/** Rows of `--format=csv,nounits` (header included) as header-keyed records. */
export function parseCsv(text: string): Record<string, string>[] {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  const [header, ...rows] = lines;
  if (header === undefined) return [];
  const keys = header.split(',').map((key) =>
    key
      .trim()
      .toLowerCase()
      .replace(/\s*\[.*\]$/, ''),
  );
  return rows.map((row) => {
    const cells = row.split(',').map((cell) => cell.trim());
    return Object.fromEntries(keys.map((key, i) => [key, cells[i] ?? '']));
  });
}

function number(cell: string | undefined): number | null {
  if (cell === undefined || cell === '' || cell.startsWith('[')) return null; // [N/A], [Not Supported]
  const value = Number(cell.replace(/\s*(MiB|%)$/i, ''));
  return Number.isFinite(value) ? value : null;
}

export function parseGpuQuery(text: string): SmiGpu[] {
  return parseCsv(text).flatMap((row) => {
    const index = number(row['index']);
    const uuid = row['uuid'];
    if (index === null || !uuid) return [];
    return [
      {
        index,
        uuid,
        name: row['name'] ?? '',
        memory_total_mib: number(row['memory.total']),
        memory_used_mib: number(row['memory.used']),
        utilization: number(row['utilization.gpu']),
      },
    ];
  });
}

export function parseAppsQuery(text: string): SmiProcess[] {
  return parseCsv(text).flatMap((row) => {
    const pid = number(row['pid']);
    const gpu = row['gpu_uuid'];
    if (pid === null || !gpu) return [];
    return [{ gpu_uuid: gpu, pid, used_memory_mib: number(row['used_gpu_memory'] ?? row['used_memory']) }];
  });
}

/**
 * The container a host process belongs to, from the text of /proc/<pid>/cgroup: the whole path
 * must be the engine's, /docker/<id> (cgroupfs driver) or /system.slice/docker-<id>.scope
 * (systemd), whose parents only root can write. A user may name a cgroup of their own delegated
 * tree (user@UID.service/docker-<id>.scope) after a job's container, and their process on a GPU
 * must still count as someone else's, not that job's.
 */
export function containerOfCgroup(cgroupText: string): string | undefined {
  const match = /^\d+:[^:\n]*:\/(?:docker\/([0-9a-f]{64})|system\.slice\/docker-([0-9a-f]{64})\.scope)$/m.exec(cgroupText);
  return match?.[1] ?? match?.[2];
}
