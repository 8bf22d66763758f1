// How the CLI asks the daemon for something: a request file in requests/, owned by the caller.
// The daemon takes the requester from the file's uid and checks permissions again.
import { randomBytes } from 'node:crypto';
import { encodeRequest, type ControlRequest } from '../core/job/envelope.js';
import { NameTakenError, publish, REQUEST_SUFFIX } from '../io/spool/spool.js';
import type { CommandContext } from './context.js';

type WithoutTime<T> = T extends unknown ? Omit<T, 'at'> : never;

export async function sendRequest(ctx: CommandContext, request: WithoutTime<ControlRequest>): Promise<void> {
  for (;;) {
    const at = Date.now();
    // Names sort by time, so the daemon applies requests in the order they were made.
    const name = `${String(at).padStart(15, '0')}-${randomBytes(8).toString('hex')}${REQUEST_SUFFIX}`;
    try {
      await publish(ctx.spool.requests, name, encodeRequest({ ...request, at } as ControlRequest), 0o600);
      return;
    } catch (error) {
      if (!(error instanceof NameTakenError)) throw error; // someone planted this exact name: draw again
    }
  }
}
