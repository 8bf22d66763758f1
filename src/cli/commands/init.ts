// `dopq init` (root): lay out the spool with the owners and modes that let any user submit but
// not read, change or delete another user's files, then check everything `dopq run` checks.
import { ExitCode, PermissionError, UnsafeSpoolError } from '../../core/errors.js';
import { initSpool, spoolProblems } from '../../io/spool.js';
import type { CommandContext } from '../context.js';

export async function initCommand(ctx: CommandContext): Promise<number> {
  if (process.geteuid?.() !== 0) {
    throw new PermissionError('init', 'only root lays out the spool (the daemon runs as root and trusts it)', { hint: 'sudo dopq init' });
  }
  const changed = await initSpool(ctx.spool);
  for (const line of changed) ctx.io.out(`${line}\n`);
  const problems = await spoolProblems(ctx.spool, ctx.config.file);
  if (problems.length > 0) throw new UnsafeSpoolError(ctx.spool.root, problems);
  ctx.io.out(`spool ${ctx.spool.root} is ready${changed.length === 0 ? ' (nothing to change)' : ''}\n`);
  return ExitCode.ok;
}
