import test from 'ava';
import {
  parseSinfoPartitions,
  parseSlurmSettings,
  slurmAccountingCheck,
  slurmControllerCheck,
  slurmPartitionCheck,
  slurmPriorityCheck,
  slurmSeconds,
} from '../../src/core/doctor/slurm-checks.js';
import { parseConfig } from '../../src/core/config/config.js';

const ok = <T>(value: T) => ({ ok: true as const, value });
const failed = (error: string) => ({ ok: false as const, error });
const config = (text = '') => parseConfig(text, '/etc/dopq/dopq.yaml');

test('scontrol show config and sinfo are read', (t) => {
  t.deepEqual(
    parseSlurmSettings('Configuration data as of 2026-01-01\nPriorityType            = priority/multifactor\nClusterName = dopq\n'),
    {
      PriorityType: 'priority/multifactor',
      ClusterName: 'dopq',
    },
  );
  t.deepEqual(parseSinfoPartitions('gpu*|gpu:4\ngpu*|(null)\ncpu|(null)\n'), [
    { name: 'gpu', isDefault: true, gres: ['gpu:4', '(null)'] },
    { name: 'cpu', isDefault: false, gres: ['(null)'] },
  ]);
});

test('the controller must answer UP', (t) => {
  t.is(slurmControllerCheck(ok('Slurmctld(primary) at vm is UP\n')).status, 'ok');
  t.is(slurmControllerCheck(ok('Slurmctld(primary) at vm is DOWN\n')).status, 'fail');
  t.is(slurmControllerCheck(failed('scontrol: not found')).status, 'fail');
});

test('the partition must exist and have GPUs as GRES', (t) => {
  const partitions = ok(parseSinfoPartitions('gpu*|gpu:4\nmixed|gpu:2\nmixed|(null)\ncpu|(null)\n'));
  t.is(slurmPartitionCheck(null, partitions).status, 'ok');
  t.is(slurmPartitionCheck('mixed', partitions).status, 'warn');
  const cpu = slurmPartitionCheck('cpu', partitions);
  t.is(cpu.status, 'fail');
  t.regex(cpu.detail, /no GRES gpu/);
  t.regex(slurmPartitionCheck('big', partitions).detail, /no partition big \(partitions: gpu, mixed, cpu\)/);
  t.regex(slurmPartitionCheck(null, ok(parseSinfoPartitions('cpu|(null)\n'))).detail, /no default partition/);
});

test('fair-share needs multifactor priority with a fair-share weight', (t) => {
  const multifactor = { PriorityType: 'priority/multifactor', PriorityWeightFairShare: '100000', PriorityDecayHalfLife: '7-00:00:00' };
  t.is(slurmPriorityCheck(config(), ok(multifactor)).status, 'ok');
  const other = slurmPriorityCheck(config(), ok({ ...multifactor, PriorityDecayHalfLife: '00:10:00' }));
  t.is(other.status, 'warn');
  t.regex(other.detail, /PriorityDecayHalfLife is 00:10:00, penalty.half_life says 7-00:00:00/);
  t.is(slurmPriorityCheck(config('penalty: {half_life: 10m}\n'), ok({ ...multifactor, PriorityDecayHalfLife: '00:10:00' })).status, 'ok');
  t.is(slurmPriorityCheck(config(), ok({ PriorityType: 'priority/basic' })).status, 'fail');
  t.is(slurmPriorityCheck(config('policy: fifo\n'), ok({ PriorityType: 'priority/basic' })).status, 'warn');
  t.is(slurmPriorityCheck(config(), ok({ PriorityType: 'priority/multifactor', PriorityWeightFairShare: '0' })).status, 'fail');
});

test('accounting: slurmdbd that knows the cluster, limits enforced when there is a cap', (t) => {
  const dbd = {
    AccountingStorageType: 'accounting_storage/slurmdbd',
    ClusterName: 'dopq',
    AccountingStorageEnforce: 'associations,limits,qos',
  };
  t.is(slurmAccountingCheck(config(), ok(dbd), ok(['dopq'])).status, 'ok');
  t.is(slurmAccountingCheck(config(), ok({ AccountingStorageType: 'accounting_storage/none' }), ok([])).status, 'fail');
  t.is(slurmAccountingCheck(config('policy: fifo\n'), ok({ AccountingStorageType: 'accounting_storage/none' }), ok([])).status, 'warn');
  t.is(slurmAccountingCheck(config(), ok(dbd), failed('Connection refused')).status, 'fail');
  t.regex(slurmAccountingCheck(config(), ok(dbd), ok(['other'])).detail, /does not know cluster dopq/);
  const loose = { ...dbd, AccountingStorageEnforce: 'associations' };
  t.is(slurmAccountingCheck(config('limits: {per_user: {gpus: 2}}\n'), ok(loose), ok(['dopq'])).status, 'warn');
});

test("Slurm's durations in seconds", (t) => {
  t.is(slurmSeconds('7-00:00:00'), 7 * 86400);
  t.is(slurmSeconds('1-12:30:05'), 86400 + 12 * 3600 + 30 * 60 + 5);
  t.is(slurmSeconds('00:10:00'), 600);
  t.is(slurmSeconds('10:30'), 630);
  t.is(slurmSeconds('15'), 900);
  t.is(slurmSeconds('NONE'), undefined);
});
