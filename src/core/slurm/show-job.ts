// `scontrol -d -o show job ID` (one line, with details) -> what the node helper checks a caller
// through sudo against: the job's name, owner, state, batch host, the GPU indices Slurm gave, and
// the CPUs, memory and time limit it was allocated.
// Pure. Everything else on the line is ignored; a line without these fields is no answer.

export interface SlurmJobFacts {
  jobId: string;
  name: string;
  uid: number;
  state: string;
  batchHost: string;
  /** The node's GPU indices from the GRES detail (`GRES=gpu:2(IDX:1,3)`), in order; [] without GPUs. */
  gpus: string[];
  /** NumCPUs; null when not stated. */
  cpus: number | null;
  /** The `mem=` of the job's TRES, in MiB; null when not stated. */
  memoryMiB: number | null;
  /** TimeLimit in minutes; null for UNLIMITED or when not stated. */
  timeLimitMinutes: number | null;
}

export function parseShowJob(text: string): SlurmJobFacts | undefined {
  const line = text.trim().split('\n')[0] ?? '';
  const field = (key: string) => new RegExp(`(?:^|\\s)${key}=(\\S*)`).exec(line)?.[1];
  const jobId = field('JobId');
  const name = field('JobName');
  const uid = /\((\d+)\)$/.exec(field('UserId') ?? '')?.[1];
  const state = field('JobState');
  const batchHost = field('BatchHost');
  if (!jobId || name === undefined || uid === undefined || !state || !batchHost) return undefined;
  // The detail's GRES (per node), not JOB_GRES/TRES (counts only): `gpu:2(IDX:0-1,3)`, `gpu:a100:1(IDX:2)`.
  const detail = /(?:^|\s)GRES=(\S*)/.exec(line)?.[1] ?? '';
  const indices = /(?:^|,)gpu[^(,]*\(IDX:([0-9,-]*)\)/.exec(detail)?.[1];
  const gpus = indices === undefined || indices === '' ? [] : expandIndices(indices);
  if (gpus === undefined) return undefined;
  const cpus = field('NumCPUs');
  return {
    jobId,
    name,
    uid: Number(uid),
    state,
    batchHost,
    gpus,
    cpus: cpus !== undefined && /^\d+$/.test(cpus) ? Number(cpus) : null,
    memoryMiB: tresMemory(field('TRES') ?? ''),
    timeLimitMinutes: slurmTimeMinutes(field('TimeLimit') ?? ''),
  };
}

const MIB_PER_UNIT: Record<string, number> = { K: 1 / 1024, M: 1, G: 1024, T: 1024 ** 2, P: 1024 ** 3 };

/** `cpu=2,mem=4G,node=1,gres/gpu=1` -> 4096; null without a readable mem=. */
function tresMemory(tres: string): number | null {
  const mem = /(?:^|,)mem=(\d+(?:\.\d+)?)([KMGTP])?(?:,|$)/.exec(tres);
  return mem ? Number(mem[1]) * MIB_PER_UNIT[mem[2] ?? 'M']! : null;
}

/** Slurm's `[D-]HH:MM:SS` (or `MM:SS`) in minutes, rounded up; null for UNLIMITED and anything else. */
export function slurmTimeMinutes(text: string): number | null {
  const time = /^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$/.exec(text);
  if (!time) return null;
  const [, days, hours, minutes, seconds] = time.map((part) => Number(part ?? 0));
  return days! * 1440 + hours! * 60 + minutes! + Math.ceil(seconds! / 60);
}

/** `0-1,3` -> ['0', '1', '3']; undefined for anything else. */
export function expandIndices(text: string): string[] | undefined {
  const out: string[] = [];
  for (const part of text.split(',')) {
    const range = /^(\d{1,3})(?:-(\d{1,3}))?$/.exec(part);
    if (!range) return undefined;
    const from = Number(range[1]);
    const to = range[2] === undefined ? from : Number(range[2]);
    if (to < from) return undefined;
    for (let i = from; i <= to; i++) out.push(String(i));
  }
  return out;
}
