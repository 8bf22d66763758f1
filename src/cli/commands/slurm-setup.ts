// `dopq slurm-setup`: print the slurm.conf priority lines and the sacctmgr commands that carry the
// config's half-life, shares and per-user GPU cap into Slurm (backend: slurm). Prints; changes nothing.
import { slurmSetupText, type ShareHolder } from '../../core/slurm/setup-lines.js';
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
  return 0;
}
