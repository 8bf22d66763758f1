// `dopq slurm-setup`: print the slurm.conf priority lines and the sacctmgr commands that carry the
// config's half-life, shares and per-user GPU cap into Slurm (backend: slurm). Prints; changes nothing.
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { NODE_HELPER } from '../../core/slurm/sbatch.js';
import { slurmSetupText, type ShareHolder } from '../../core/slurm/setup-lines.js';
import { sudoersText, sudoHelper, type SudoHelper } from '../../core/slurm/sudoers.js';
import { groupMembers } from '../../io/host/name-lookup.js';
import type { CommandContext } from '../context.js';

export async function slurmSetupCommand(ctx: CommandContext): Promise<number> {
  const { shares } = ctx.config;
  const groups = Object.keys(shares)
    .filter((name) => name.startsWith('%'))
    .map((name) => name.slice(1));
  const members = await groupMembers(groups);
  const holders = new Map<string, ShareHolder>();
  for (const name of Object.keys(shares).filter((key) => !key.startsWith('%'))) holders.set(name, { user: name, groups: [] });
  for (const [group, users] of members) {
    for (const user of users) {
      const holder = holders.get(user) ?? { user, groups: [] };
      holder.groups.push(group);
      holders.set(user, holder);
    }
  }
  ctx.io.out(slurmSetupText(ctx.config, [...holders.values()]));
  ctx.io.out(sudoersText(await resolvedHelper(ctx.config.slurm.helper ?? NODE_HELPER), ctx.config.file));
  return 0;
}

// Debian's sudo secure_path: where sudo finds a helper named without a folder (the default `dopq`).
const SECURE_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The helper as sudoers must name it: its command by absolute path. */
async function resolvedHelper(helper: readonly string[]): Promise<SudoHelper | undefined> {
  const split = sudoHelper(helper);
  if (!split || split.command.startsWith('/')) return split;
  for (const dir of SECURE_PATH) {
    const candidate = path.join(dir, split.command);
    if (await isExecutable(candidate)) return { ...split, command: candidate };
  }
  return { ...split, command: path.join('/usr/local/bin', split.command) };
}

const isExecutable = (file: string) =>
  access(file, constants.X_OK).then(
    () => true,
    () => false,
  );
