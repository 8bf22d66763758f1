// `scontrol -d -o show job ID` (one line, with details) -> what the node helper checks a caller
// through sudo against: the job's name, owner, state, batch host and the GPU indices Slurm gave.
// Pure. Everything else on the line is ignored; a line without these fields is no answer.

export interface SlurmJobFacts {
  jobId: string;
  name: string;
  uid: number;
  state: string;
  batchHost: string;
  /** The node's GPU indices from the GRES detail (`GRES=gpu:2(IDX:1,3)`), in order; [] without GPUs. */
  gpus: string[];
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
  return { jobId, name, uid: Number(uid), state, batchHost, gpus };
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
