// What `dopq slurm-setup` prints: the slurm.conf priority lines and the sacctmgr commands that make
// Slurm's fair-share and limits say what the config's penalty, shares and per-user GPU cap say.
import type { Config } from '../config/config.js';
import { shareOf } from '../schedule/policy.js';

/** A user named by the shares, directly or through one of their groups (group names without `%`). */
export interface ShareHolder {
  user: string;
  groups: string[];
}

/** The QOS that carries the per-user GPU cap (Slurm has no per-user cap outside a QOS or an association). */
export const CAP_QOS = 'dopq';

/** Slurm's duration form `D-HH:MM:SS`, rounded up to whole minutes (PriorityDecayHalfLife counts minutes). */
export function slurmDuration(seconds: number): string {
  const minutes = Math.max(1, Math.ceil(seconds / 60));
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${days}-${pad(hours)}:${pad(minutes % 60)}:00`;
}

/** The slurm.conf lines: fair-share as the only priority weight, decaying with penalty.half_life. */
export function priorityLines(config: Pick<Config, 'penalty'>): string[] {
  return [
    'PriorityType=priority/multifactor',
    `PriorityDecayHalfLife=${slurmDuration(config.penalty.half_life)}`,
    'PriorityUsageResetPeriod=NONE',
    'PriorityWeightFairshare=100000',
    'PriorityWeightAge=0',
    'PriorityWeightJobSize=0',
    'PriorityWeightPartition=0',
    'PriorityWeightQOS=0',
    'AccountingStorageType=accounting_storage/slurmdbd',
    'AccountingStorageTRES=gres/gpu',
    'AccountingStorageEnforce=associations,limits,qos',
  ];
}

/**
 * The sacctmgr commands, one a line, runnable by `sh` as Slurm's admin. Shares are Slurm's
 * `fairshare=` (whole numbers: fractional shares are scaled by 100, and then every other user
 * needs fairshare=100 too, which the comment says); the per-user GPU cap is QOS `dopq`'s
 * MaxTRESPerUser, made the only QOS of the account (or of each named user without an account).
 */
export function sacctmgrLines(config: Pick<Config, 'shares' | 'limits' | 'slurm'>, holders: readonly ShareHolder[]): string[] {
  const lines: string[] = [];
  const account = config.slurm.account;
  const where = (user: string) => `where user=${user}${account ? ` account=${account}` : ''}`;
  const whole = Object.values(config.shares).every((share) => Number.isInteger(share));
  const scale = whole ? 1 : 100;
  if (!whole) lines.push(`# shares are not whole numbers: scaled by ${scale}; give every other user fairshare=${scale} as well`);
  const users = [...new Map(holders.map((holder) => [holder.user, holder])).values()].sort((a, b) => a.user.localeCompare(b.user));
  for (const holder of users) {
    const share = Math.max(1, Math.round(shareOf(holder.user, holder.groups, config.shares) * scale));
    lines.push(`sacctmgr -i modify user ${where(holder.user)} set fairshare=${share}`);
  }
  const cap = config.limits.per_user.gpus;
  if (cap !== null) {
    lines.push(`sacctmgr -i add qos ${CAP_QOS}`);
    lines.push(`sacctmgr -i modify qos where name=${CAP_QOS} set MaxTRESPerUser=gres/gpu=${cap}`);
    // qos= (not qos+=): the cap QOS alone, or `sbatch --qos=normal` (or scontrol update on a
    // pending dopq job) would leave the cap behind.
    if (account) lines.push(`sacctmgr -i modify account where name=${account} set qos=${CAP_QOS} defaultqos=${CAP_QOS}`);
    else
      for (const holder of users) lines.push(`sacctmgr -i modify user where user=${holder.user} set qos=${CAP_QOS} defaultqos=${CAP_QOS}`);
  }
  return lines;
}

/** The whole text: slurm.conf lines as comments (to copy), then the commands (to pipe into sh). */
export function slurmSetupText(config: Pick<Config, 'penalty' | 'shares' | 'limits' | 'slurm'>, holders: readonly ShareHolder[]): string {
  return [
    `# slurm.conf (on every node), then \`scontrol reconfigure\`: fair-share orders the jobs; dopq never does with backend: slurm`,
    ...priorityLines(config).map((line) => `#   ${line}`),
    "# sacctmgr, as Slurm's admin (pipe this into sh): the shares and the per-user GPU cap",
    ...sacctmgrLines(config, holders),
    '',
  ].join('\n');
}
