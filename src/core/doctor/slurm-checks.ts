// `dopq doctor`'s checks of a Slurm cluster (backend: slurm): what scontrol, sinfo and sacctmgr
// answered, judged. The command gathers the answers; the parsing and the verdicts are here.
import type { Config } from '../config/config.js';
import type { Check, Probe } from './checks.js';
import { slurmDuration } from '../slurm/setup-lines.js';

export interface SlurmPartition {
  name: string;
  /** sinfo marks the default partition with `*`. */
  isDefault: boolean;
  /** One entry per node group, as sinfo's %G prints it: `gpu:4`, `gpu:a100:2(S:0)`, `(null)`. */
  gres: string[];
}

export interface SlurmSeen {
  ping: Probe<string>;
  /** `scontrol show config`, as key -> value. */
  settings: Probe<Record<string, string>>;
  partitions: Probe<SlurmPartition[]>;
  /** The clusters slurmdbd knows (`sacctmgr show cluster`). */
  clusters: Probe<string[]>;
}

/** `scontrol show config` lines `Key = value` as a record. */
export function parseSlurmSettings(text: string): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z][A-Za-z0-9_]*)\s+=\s?(.*)$/.exec(line);
    if (match) settings[match[1]!] = match[2]!.trim();
  }
  return settings;
}

/** `sinfo -h -o '%P|%G'` lines (one per partition and node group) merged per partition. */
export function parseSinfoPartitions(text: string): SlurmPartition[] {
  const byName = new Map<string, SlurmPartition>();
  for (const line of text.split('\n')) {
    const [raw, gres = ''] = line.trim().split('|');
    if (!raw) continue;
    const name = raw.replace(/\*$/, '');
    const partition = byName.get(name) ?? { name, isDefault: raw.endsWith('*'), gres: [] };
    partition.gres.push(gres);
    byName.set(name, partition);
  }
  return [...byName.values()];
}

const check = (name: string, status: Check['status'], detail: string, hint?: string): Check => ({
  name,
  status,
  detail,
  ...(hint ? { hint } : {}),
});

export function slurmControllerCheck(ping: Probe<string>): Check {
  if (!ping.ok) return check('slurm-controller', 'fail', ping.error, ping.hint ?? 'start slurmctld, or set slurm.bin');
  const line = ping.value.trim().split('\n')[0] ?? '';
  if (!/\bUP\b/.test(line))
    return check('slurm-controller', 'fail', `scontrol ping: ${line || 'no answer'}`, 'start slurmctld (its log says why it is down)');
  return check('slurm-controller', 'ok', line);
}

/** The partition jobs go to exists, and its nodes have GPUs as GRES (`GresTypes=gpu`, `Gres=gpu:N`). */
export function slurmPartitionCheck(wanted: string | null, partitions: Probe<SlurmPartition[]>): Check {
  if (!partitions.ok) return check('slurm-partition', 'fail', partitions.error, partitions.hint);
  const partition = wanted === null ? partitions.value.find((p) => p.isDefault) : partitions.value.find((p) => p.name === wanted);
  const names = partitions.value.map((p) => p.name).join(', ') || 'none';
  if (!partition)
    return check(
      'slurm-partition',
      'fail',
      wanted === null ? `no default partition (partitions: ${names})` : `no partition ${wanted} (partitions: ${names})`,
      wanted === null
        ? 'set slurm.partition in the config, or Default=YES on a partition'
        : 'fix slurm.partition, or add the partition to slurm.conf',
    );
  const withGpus = partition.gres.filter((gres) => /(^|,)gpu(:|$|\()/.test(gres));
  if (withGpus.length === 0)
    return check(
      'slurm-partition',
      'fail',
      `partition ${partition.name}: its nodes have no GRES gpu (${partition.gres.join(', ')}): GPU jobs would never start`,
      'slurm.conf: GresTypes=gpu and Gres=gpu:N on the node lines, gres.conf with the devices; then restart slurmd and slurmctld',
    );
  const some = withGpus.length < partition.gres.length ? ' on some of its nodes' : '';
  return check(
    'slurm-partition',
    withGpus.length < partition.gres.length ? 'warn' : 'ok',
    `partition ${partition.name}: GRES ${withGpus.join(', ')}${some}`,
  );
}

/** Slurm orders the jobs: fair-share needs priority/multifactor (dopq never reorders with backend: slurm). */
/** Slurm's `[D-]HH:MM:SS` (or `MM:SS`, or minutes) in seconds; undefined when it is not one. */
export function slurmSeconds(text: string): number | undefined {
  const match = /^(?:(\d+)-)?(?:(\d+):)?(\d+)(?::(\d+))?$/.exec(text.trim());
  if (!match) return undefined;
  const [, days, first, second, third] = match;
  // D-HH:MM:SS, HH:MM:SS, MM:SS, or a bare number of minutes.
  const [hours, minutes, seconds] =
    third !== undefined ? [first, second, third] : first !== undefined ? ['0', first, second] : ['0', second, '0'];
  return Number(days ?? 0) * 86400 + Number(hours ?? 0) * 3600 + Number(minutes) * 60 + Number(seconds);
}

export function slurmPriorityCheck(config: Pick<Config, 'policy' | 'penalty'>, settings: Probe<Record<string, string>>): Check {
  if (!settings.ok) return check('slurm-priority', 'warn', `not checked: ${settings.error}`, 'see slurm-controller');
  const type = settings.value.PriorityType ?? 'unknown';
  if (type === 'priority/multifactor') {
    const weight = settings.value.PriorityWeightFairShare ?? '0';
    const halfLife = settings.value.PriorityDecayHalfLife ?? '?';
    if (Number(weight) > 0) {
      const seconds = slurmSeconds(halfLife);
      // Slurm counts the half-life in minutes: compare at that resolution.
      if (seconds !== undefined && Math.ceil(seconds / 60) !== Math.max(1, Math.ceil(config.penalty.half_life / 60)))
        return check(
          'slurm-priority',
          'warn',
          `PriorityDecayHalfLife is ${halfLife}, penalty.half_life says ${slurmDuration(config.penalty.half_life)}`,
          'dopq slurm-setup prints the line for slurm.conf',
        );
      return check('slurm-priority', 'ok', `priority/multifactor, fair-share weight ${weight}, half-life ${halfLife}`);
    }
    return check(
      'slurm-priority',
      config.policy === 'fairshare' ? 'fail' : 'warn',
      'priority/multifactor with PriorityWeightFairshare 0: shares do not count',
      'dopq slurm-setup prints the lines for slurm.conf',
    );
  }
  return check(
    'slurm-priority',
    config.policy === 'fairshare' ? 'fail' : 'warn',
    `PriorityType is ${type}: Slurm runs jobs first come, first served, not by fair-share`,
    'dopq slurm-setup prints the lines for slurm.conf (PriorityType=priority/multifactor ...)',
  );
}

/** Fair-share, shares and per-user caps live in Slurm's accounting (slurmdbd). */
export function slurmAccountingCheck(
  config: Pick<Config, 'policy' | 'shares' | 'limits'>,
  settings: Probe<Record<string, string>>,
  clusters: Probe<string[]>,
): Check {
  const wanted = config.policy === 'fairshare' || Object.keys(config.shares).length > 0 || config.limits.per_user.gpus !== null;
  const missing = wanted ? 'fail' : 'warn';
  if (!settings.ok) return check('slurm-accounting', 'warn', `not checked: ${settings.error}`, 'see slurm-controller');
  const storage = settings.value.AccountingStorageType ?? 'unknown';
  if (storage !== 'accounting_storage/slurmdbd')
    return check(
      'slurm-accounting',
      missing,
      `AccountingStorageType is ${storage}: Slurm keeps no usage, so fair-share, shares and per-user GPU caps do nothing`,
      'run slurmdbd and set AccountingStorageType=accounting_storage/slurmdbd (dopq slurm-setup prints the lines)',
    );
  if (!clusters.ok)
    return check('slurm-accounting', missing, `slurmdbd does not answer: ${clusters.error}`, 'start slurmdbd (and its database)');
  const cluster = settings.value.ClusterName;
  if (cluster && !clusters.value.includes(cluster))
    return check(
      'slurm-accounting',
      missing,
      `slurmdbd does not know cluster ${cluster}`,
      `sacctmgr add cluster ${cluster}, then restart slurmctld`,
    );
  const enforce = settings.value.AccountingStorageEnforce ?? 'none';
  if (config.limits.per_user.gpus !== null && !/limits/.test(enforce))
    return check(
      'slurm-accounting',
      'warn',
      `AccountingStorageEnforce is ${enforce}: the per-user GPU cap (QOS) is not enforced`,
      'set AccountingStorageEnforce=associations,limits,qos',
    );
  return check('slurm-accounting', 'ok', `slurmdbd keeps cluster ${cluster ?? '?'}'s usage (enforce: ${enforce})`);
}

export function slurmChecks(config: Pick<Config, 'policy' | 'penalty' | 'shares' | 'limits' | 'slurm'>, seen: SlurmSeen): Check[] {
  return [
    slurmControllerCheck(seen.ping),
    slurmPartitionCheck(config.slurm.partition, seen.partitions),
    slurmPriorityCheck(config, seen.settings),
    slurmAccountingCheck(config, seen.settings, seen.clusters),
  ];
}
