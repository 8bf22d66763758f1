// How the CLI reports: one error form for every command (`dopq: subject: message`, then a
// hint), and the per-id loop that `rm`, `hold`, `release` and `top` share. Apart from
// program.ts, so commands never import the program that loads them.
import { DopqError, ExitCode } from '../core/errors.js';
import type { Output } from './context.js';

export function reportError(error: unknown, io: Output, debug: boolean): number {
  if (error instanceof DopqError) {
    const lines = error.message.split('\n');
    const head = error.subject ? `dopq: ${error.subject}: ` : 'dopq: ';
    io.err(lines.length > 1 ? `${head}\n${lines.map((l) => `  ${l}`).join('\n')}\n` : `${head}${lines[0]}\n`);
    if (error.hint) io.err(`hint: ${error.hint}\n`);
    if (debug && error.stack) io.err(`${error.stack}\n`);
    return error.exitCode;
  }
  io.err(`dopq: internal error: ${(error as Error)?.message ?? String(error)}\n`);
  if (debug && error instanceof Error && error.stack) io.err(`${error.stack}\n`);
  else io.err('hint: run again with --debug for the stack trace\n');
  return ExitCode.internal;
}

/**
 * Run `action` for each id; a failing id is reported and the rest go on. The exit code: 0 when
 * all succeeded, the failure's own code when all failed, else 2 (partial).
 */
export async function forEachId(ids: readonly number[], io: Output, action: (id: number) => Promise<void> | void): Promise<number> {
  const failures: number[] = [];
  for (const id of ids) {
    try {
      await action(id);
    } catch (error) {
      failures.push(reportError(error, io, false));
    }
  }
  if (failures.length === 0) return ExitCode.ok;
  return failures.length === ids.length ? failures[0]! : ExitCode.partial;
}
