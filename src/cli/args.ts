// Arguments as the CLI reads them, checked where commander parses them (argParser), so every
// command gets numbers, never strings it must check again.
import { UsageError } from '../core/errors.js';

/** A job id as typed: digits only (no signs, exponents or spaces). */
export function parseJobId(text: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`not a job id: ${JSON.stringify(text)}`);
  return Number(text);
}

export function parseJobIds(raw: readonly string[]): number[] {
  return raw.map(parseJobId);
}
