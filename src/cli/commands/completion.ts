// `dopq completion bash|zsh`: print the completion script, made from the program's own commands
// and options. `dopq __complete-ids COMMAND` (hidden): the caller's job ids COMMAND can take,
// one a line, which the scripts call; it reads the state and the intake, nothing more.
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { ExitCode } from '../../core/errors.js';
import { isIdCommand, ownJobIds } from '../../core/job/own-job-ids.js';
import { jobRangeOfIntakeName } from '../../io/spool/spool.js';
import { readState } from '../../io/spool/state-store.js';
import { bashScript } from '../completion/bash.js';
import { completionSpec } from '../completion/spec.js';
import { zshScript } from '../completion/zsh.js';
import type { CommandContext, Output } from '../context.js';
import { packageVersion } from '../version.js';

export type Shell = 'bash' | 'zsh';

export function completionCommand(program: Command, io: Output, shell: Shell): number {
  const specs = completionSpec(program);
  io.out(shell === 'bash' ? bashScript(specs, packageVersion()) : zshScript(specs, packageVersion()));
  return ExitCode.ok;
}

export async function completeIdsCommand(ctx: CommandContext, command: string): Promise<number> {
  if (!isIdCommand(command)) return ExitCode.ok; // nothing to offer
  const uid = process.getuid?.() ?? 0;
  const [state, pending] = await Promise.all([readState(ctx.spool.state), intakeOwners(ctx.spool.intake)]);
  const ids = ownJobIds(command, uid, state.jobs, pending);
  ctx.io.out(ids.map((id) => `${id}\n`).join(''));
  return ExitCode.ok;
}

/** Each intake job file's id and owner, from lstat alone (no file is opened). */
async function intakeOwners(intake: string): Promise<{ id: number; uid: number }[]> {
  const names = await readdir(intake).catch(() => [] as string[]);
  const found = await Promise.all(
    names.map(async (name) => {
      const id = jobRangeOfIntakeName(name)?.first;
      if (id === undefined) return undefined;
      const info = await lstat(path.join(intake, name)).catch(() => undefined); // read by the daemon meanwhile
      return info?.isFile() ? { id, uid: info.uid } : undefined;
    }),
  );
  return found.filter((entry): entry is { id: number; uid: number } => entry !== undefined);
}
