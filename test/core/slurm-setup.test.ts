import test from 'ava';
import { parseConfig } from '../../src/core/config/config.js';
import { InvalidDocumentError } from '../../src/core/errors.js';
import { priorityLines, sacctmgrLines, slurmDuration, slurmSetupText } from '../../src/core/slurm/setup-lines.js';

const config = (text: string) => parseConfig(text, '/etc/dopq/dopq.yaml');

test('backend is docker unless the config says slurm; the slurm block has defaults', (t) => {
  const plain = config('spool: /srv/q\n');
  t.is(plain.backend, 'docker');
  t.deepEqual(plain.slurm, { partition: null, account: null, bin: null, term_grace: 60, helper: null });
  const slurm = config(
    'spool: /srv/q\nbackend: slurm\nslurm:\n  partition: gpu\n  account: lab-a\n  bin: /opt/slurm/bin\n  term_grace: 2m\n',
  );
  t.is(slurm.backend, 'slurm');
  t.deepEqual(slurm.slurm, { partition: 'gpu', account: 'lab-a', bin: '/opt/slurm/bin', term_grace: 120, helper: null });
});

const bad: [string, RegExp][] = [
  ['backend: kubernetes\n', /line 1: backend: expected docker or slurm/],
  ['slurm:\n  partition: "gpu; rm -rf /"\n', /line 2: slurm.partition: expected a Slurm partition name/],
  ['slurm:\n  account: --qos=high\n', /line 2: slurm.account: expected a Slurm account name/],
  ['slurm: {bin: opt/slurm}\n', /line 1: slurm.bin: expected an absolute path/],
  ['slurm: {term_grace: soon}\n', /line 1: slurm.term_grace: expected a duration/],
  ['slurm: {nodes: 3}\n', /line 1: slurm.nodes: unknown field/],
];
for (const [text, message] of bad) {
  test(`config refuses ${JSON.stringify(text)}`, (t) => {
    const error = t.throws(() => config(text), { instanceOf: InvalidDocumentError });
    t.regex(error.message, message);
  });
}

test('durations in Slurm form, rounded up to whole minutes', (t) => {
  t.is(slurmDuration(7 * 86400), '7-00:00:00');
  t.is(slurmDuration(36 * 3600), '1-12:00:00');
  t.is(slurmDuration(90), '0-00:02:00');
  t.is(slurmDuration(1), '0-00:01:00');
});

test('the priority lines carry the half-life and leave fair-share the only weight', (t) => {
  const lines = priorityLines(config('penalty: {half_life: 3d}\n'));
  t.true(lines.includes('PriorityType=priority/multifactor'));
  t.true(lines.includes('PriorityDecayHalfLife=3-00:00:00'));
  t.true(lines.includes('PriorityWeightFairshare=100000'));
  t.true(lines.includes('PriorityWeightAge=0'));
  t.true(lines.includes('AccountingStorageTRES=gres/gpu'));
});

test('shares become fairshare= per user (a group share for its members, own entry first) and the cap a QOS', (t) => {
  const parsed = config('shares: {alice: 3, "%lab": 2}\nlimits: {per_user: {gpus: 2}}\nslurm: {account: dopq}\n');
  const lines = sacctmgrLines(parsed, [
    { user: 'carol', groups: ['lab'] },
    { user: 'alice', groups: ['lab'] },
  ]);
  t.deepEqual(lines, [
    'sacctmgr -i modify user where user=alice account=dopq set fairshare=3',
    'sacctmgr -i modify user where user=carol account=dopq set fairshare=2',
    'sacctmgr -i add qos dopq',
    'sacctmgr -i modify qos where name=dopq set MaxTRESPerUser=gres/gpu=2',
    'sacctmgr -i modify account where name=dopq set qos=dopq defaultqos=dopq',
  ]);
});

test('without an account the cap goes to each user; fractional shares are scaled, and said so', (t) => {
  const parsed = config('shares: {alice: 1.5, bob: 0.25}\nlimits: {per_user: {gpus: 1}}\n');
  const lines = sacctmgrLines(parsed, [
    { user: 'bob', groups: [] },
    { user: 'alice', groups: [] },
  ]);
  t.regex(lines[0]!, /^# shares are not whole numbers: scaled by 100; give every other user fairshare=100/);
  t.true(lines.includes('sacctmgr -i modify user where user=alice set fairshare=150'));
  t.true(lines.includes('sacctmgr -i modify user where user=bob set fairshare=25'));
  t.true(lines.includes('sacctmgr -i modify user where user=alice set qos=dopq defaultqos=dopq'));
});

test('no shares and no cap: only the slurm.conf lines, as comments, so the whole text runs in sh', (t) => {
  const text = slurmSetupText(config(''), []);
  for (const line of text.split('\n').filter(Boolean)) t.regex(line, /^#/);
});
