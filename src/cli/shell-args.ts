// `dopq shell`'s own option values, checked as commander parses them (a bad one exits 64).
import { InvalidArgumentError } from 'commander';

/** A whole number of GPUs, 0 included. */
export function parseGpuCount(text: string): number {
  if (!/^\d{1,4}$/.test(text)) throw new InvalidArgumentError(`not a whole number of GPUs: ${JSON.stringify(text)}`);
  return Number(text);
}
