// `dopq run [--once]`: the daemon. Config errors surfaced before anything starts.
import { runDaemon } from '../../daemon/run.js';
import type { CommandContext } from '../context.js';

export async function runCommand(ctx: CommandContext, options: { once?: boolean }): Promise<number> {
  return runDaemon(ctx.config, { once: Boolean(options.once) });
}
