// What `dopq push` drops into the intake: the manifest text as the user wrote it, wrapped with
// the job id and submission time. The daemon validates the manifest again itself, and takes the
// owner from the file's uid, never from anything written here.

/** A build context push packed next to the job file (`<id>.ctx` in the intake). */
export interface PackedContextRef {
  file: string;
  bytes: number;
  sha256: string;
}

export interface Envelope {
  id: number;
  submitted_at: number;
  /** Where the manifest came from, for messages. */
  source: string;
  manifest: string;
  context?: PackedContextRef;
}

/**
 * Job ids run from 1 to 2^31-1: exact in JSON and JavaScript with room above (the counter's next
 * id can never round onto an old one, as 2^53 did), a signed 32-bit int in shell and C tools,
 * and more than 60 years of one push a second.
 */
export const MAX_JOB_ID = 2 ** 31 - 1;

export function isJobId(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_JOB_ID;
}

/** Why `value` is not a job id, or undefined when it is one. */
export function jobIdProblem(value: unknown): string | undefined {
  if (isJobId(value)) return undefined;
  const shown = typeof value === 'number' ? String(value) : (JSON.stringify(value)?.slice(0, 40) ?? String(value));
  return `job id ${shown} is not a whole number from 1 to ${MAX_JOB_ID}`;
}

export function encodeEnvelope(envelope: Envelope): string {
  return `${JSON.stringify(envelope)}\n`;
}

export function decodeEnvelope(text: string): Envelope | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { error: 'not a dopq job file (use `dopq push FILE` to submit a manifest)' };
  }
  const v = value as Partial<Envelope> | null;
  if (!v || typeof v !== 'object' || !('id' in v) || typeof v.manifest !== 'string' || typeof v.submitted_at !== 'number') {
    return { error: 'not a dopq job file (use `dopq push FILE` to submit a manifest)' };
  }
  const badId = jobIdProblem(v.id);
  if (badId !== undefined) return { error: `the job file's ${badId}` };
  const c = v.context as Partial<PackedContextRef> | undefined;
  const context =
    c &&
    typeof c === 'object' &&
    typeof c.file === 'string' &&
    /^\d+\.ctx$/.test(c.file) &&
    Number.isSafeInteger(c.bytes) &&
    typeof c.sha256 === 'string' &&
    /^[a-f0-9]{64}$/.test(c.sha256)
      ? { file: c.file, bytes: c.bytes!, sha256: c.sha256 }
      : undefined;
  if (v.context !== undefined && context === undefined)
    return { error: 'the job file names a build context it does not describe (push again)' };
  return {
    id: v.id!,
    submitted_at: v.submitted_at,
    source: typeof v.source === 'string' ? v.source : '?',
    manifest: v.manifest,
    ...(context ? { context } : {}),
  };
}

/** Requests on jobs: the owner or an admin. */
export const JOB_OPS = ['rm', 'hold', 'release', 'top'] as const;
/** Requests on the whole queue: admins only. */
export const ADMIN_OPS = ['pause', 'resume', 'shutdown', 'usage-reset', 'history-clear', 'reload'] as const;
export type JobOp = (typeof JOB_OPS)[number];
export type AdminOp = (typeof ADMIN_OPS)[number];

export type ControlRequest =
  | { op: JobOp; ids: number[]; at: number }
  | { op: 'pause' | 'resume' | 'shutdown'; at: number }
  | { op: 'usage-reset'; user: string | null; at: number }
  | { op: 'history-clear'; before: number | null; at: number }
  /** `token`: the daemon's answer in its status file carries it, so `dopq reload` knows it is its own. */
  | { op: 'reload'; token: string; at: number };

export function encodeRequest(request: ControlRequest): string {
  return `${JSON.stringify(request)}\n`;
}

export function decodeRequest(text: string): ControlRequest | { error: string } {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { error: 'not a dopq request' };
  }
  if (!v || typeof v !== 'object') return { error: 'not a dopq request' };
  const at = typeof v.at === 'number' && Number.isFinite(v.at) ? v.at : 0;
  const op = v.op;
  if ((JOB_OPS as readonly unknown[]).includes(op)) {
    if (!Array.isArray(v.ids)) return { error: `not a dopq request (op ${JSON.stringify(op)} without a list of job ids)` };
    const badId = v.ids.map(jobIdProblem).find((problem) => problem !== undefined);
    if (badId !== undefined) return { error: `not a dopq request (op ${JSON.stringify(op)}: ${badId})` };
    return { op: op as JobOp, ids: v.ids as number[], at };
  } else if (op === 'pause' || op === 'resume' || op === 'shutdown') {
    return { op, at };
  } else if (op === 'usage-reset') {
    if (v.user === null || (typeof v.user === 'string' && v.user.length > 0 && v.user.length <= 256)) return { op, user: v.user, at };
  } else if (op === 'history-clear') {
    if (v.before === null || (typeof v.before === 'number' && Number.isFinite(v.before))) return { op, before: v.before, at };
  } else if (op === 'reload') {
    if (typeof v.token === 'string' && /^[0-9a-f]{8,64}$/.test(v.token)) return { op, token: v.token, at };
  }
  return { error: `not a dopq request${typeof op === 'string' ? ` (op ${JSON.stringify(op.slice(0, 40))})` : ''}` };
}
