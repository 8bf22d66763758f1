// Job arrays as Slurm spells them: `0-19`, `0-19:2`, `1,5,9`, with `%4` for at most 4 running at
// once. One job per index; the array's tasks take consecutive job numbers, the first being the array's id.

/** The most tasks one array may have: a push claims this many job numbers at once. */
export const MAX_ARRAY_SIZE = 10_000;
/** The highest index a task may have (Slurm's default MaxArraySize is 1001; this is wider). */
export const MAX_ARRAY_INDEX = 1_000_000;

export interface ArraySpec {
  /** The task indices, ascending, no duplicates. */
  indices: number[];
  /** `%N`: at most N tasks of the array run at once; null: no cap. */
  throttle: number | null;
}

/** What a job record keeps of its array: which array, which task, how many, and the cap. */
export interface ArrayTask {
  /** The array's id: the job id of its first task. */
  id: number;
  index: number;
  size: number;
  throttle: number | null;
}

const NUMBER = /^\d{1,7}$/;

/** `0-19:2%4` -> the indices and the cap, or why not (the reason names the part that is wrong). */
export function parseArraySpec(text: string): ArraySpec | { error: string } {
  const [list = '', cap, ...extra] = text.trim().split('%');
  if (extra.length > 0) return { error: `one %N at most, got ${JSON.stringify(text)}` };
  let throttle: number | null = null;
  if (cap !== undefined) {
    if (!NUMBER.test(cap) || Number(cap) < 1) return { error: `expected %N with N a whole number of at least 1, got %${cap}` };
    throttle = Number(cap);
  }
  if (list === '') return { error: 'expected indices such as 0-19, 0-19:2 or 1,5,9' };
  const indices = new Set<number>();
  for (const part of list.split(',')) {
    const range = /^(\d+)(?:-(\d+)(?::(\d+))?)?$/.exec(part);
    if (!range) return { error: `expected N, N-M or N-M:STEP between commas, got ${JSON.stringify(part)}` };
    const from = Number(range[1]);
    const to = range[2] === undefined ? from : Number(range[2]);
    const step = range[3] === undefined ? 1 : Number(range[3]);
    if (from > MAX_ARRAY_INDEX || to > MAX_ARRAY_INDEX) return { error: `indices go up to ${MAX_ARRAY_INDEX}, got ${part}` };
    if (to < from) return { error: `the range ${part} ends before it starts` };
    if (step < 1) return { error: `the step in ${part} must be at least 1` };
    if ((to - from) / step + 1 + indices.size > MAX_ARRAY_SIZE) return { error: `at most ${MAX_ARRAY_SIZE} tasks in one array` };
    for (let index = from; index <= to; index += step) indices.add(index);
  }
  if (indices.size > MAX_ARRAY_SIZE) return { error: `at most ${MAX_ARRAY_SIZE} tasks in one array` };
  return { indices: [...indices].sort((a, b) => a - b), throttle };
}

/** The spec as the user may write it again (ranges folded), for messages and manifests. */
export function formatArraySpec(spec: ArraySpec): string {
  const parts: string[] = [];
  let start = spec.indices[0];
  let prev = start;
  for (const index of [...spec.indices.slice(1), undefined]) {
    if (index !== undefined && prev !== undefined && index === prev + 1) {
      prev = index;
      continue;
    }
    if (start !== undefined) parts.push(start === prev ? `${start}` : `${start}-${prev}`);
    start = prev = index;
  }
  return `${parts.join(',')}${spec.throttle === null ? '' : `%${spec.throttle}`}`;
}

/** The array tasks of one pushed array whose first job number is `first`, in job-number order. */
export function arrayTasks(first: number, spec: ArraySpec): { id: number; array: ArrayTask }[] {
  const size = spec.indices.length;
  return spec.indices.map((index, i) => ({ id: first + i, array: { id: first, index, size, throttle: spec.throttle } }));
}
