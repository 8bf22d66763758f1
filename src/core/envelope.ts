// What `dopq push` drops into the intake: the manifest text as the user wrote it, wrapped with
// the job id and submission time. The daemon validates the manifest again itself, and takes the
// owner from the file's uid, never from anything written here.

export interface Envelope {
  id: number;
  submitted_at: number;
  /** Where the manifest came from, for messages. */
  source: string;
  manifest: string;
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
  if (!v || typeof v !== 'object' || !Number.isSafeInteger(v.id) || typeof v.manifest !== 'string' || typeof v.submitted_at !== 'number') {
    return { error: 'not a dopq job file (use `dopq push FILE` to submit a manifest)' };
  }
  return { id: v.id!, submitted_at: v.submitted_at, source: typeof v.source === 'string' ? v.source : '?', manifest: v.manifest };
}

export type RequestOp = 'rm';

export interface ControlRequest {
  op: RequestOp;
  ids: number[];
}

export function encodeRequest(request: ControlRequest): string {
  return `${JSON.stringify(request)}\n`;
}

export function decodeRequest(text: string): ControlRequest | { error: string } {
  try {
    const v = JSON.parse(text) as Partial<ControlRequest>;
    if (v && v.op === 'rm' && Array.isArray(v.ids) && v.ids.every((id) => Number.isSafeInteger(id))) return { op: v.op, ids: v.ids };
  } catch {
    // fall through
  }
  return { error: 'not a dopq request' };
}
