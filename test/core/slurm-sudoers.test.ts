import test from 'ava';
import { regexLiteral, sudoersLines, sudoersText, sudoHelper } from '../../src/core/slurm/sudoers.js';

test('the rule allows exactly one job id after a fixed config, and keeps only SLURM_JOB_ID', (t) => {
  const lines = sudoersLines({ command: '/usr/local/bin/dopq', args: [] }, '/etc/dopq/dopq.yaml');
  t.deepEqual(lines, [
    'Defaults!/usr/local/bin/dopq env_keep += "SLURM_JOB_ID"',
    'ALL ALL=(root) NOPASSWD: /usr/local/bin/dopq ^--config /etc/dopq/dopq\\.yaml node-run [1-9][0-9]{0,9}$',
  ]);
  // What sudo matches the rule's arguments against: the words joined by spaces.
  const args = new RegExp(lines[1]!.split('/usr/local/bin/dopq ')[1]!);
  t.true(args.test('--config /etc/dopq/dopq.yaml node-run 17'));
  for (const hostile of [
    '--config /etc/dopq/dopq.yaml push --gpus 0 -- node-run 17',
    '--config /etc/dopq/dopq.yaml rm 5 node-run 17',
    '--config /etc/dopq/dopq.yaml node-run 17 --config /tmp/mine.yaml',
    '--config /etc/dopq/dopq.yaml node-run 17 x',
    '--config /tmp/mine.yaml node-run 17',
    '--config /etc/dopq/dopqXyaml node-run 17',
    '--config /etc/dopq/dopq.yaml node-run 017',
    '--config /etc/dopq/dopq.yaml history clear node-run 17',
  ])
    t.false(args.test(hostile), hostile);
});

test("the helper is split at sudo's --; a node script and a config with regex characters are matched literally", (t) => {
  t.deepEqual(sudoHelper(['/usr/bin/sudo', '-n', '--', '/usr/bin/node', '/opt/dopq/dopq.cjs']), {
    command: '/usr/bin/node',
    args: ['/opt/dopq/dopq.cjs'],
  });
  t.deepEqual(sudoHelper(['sudo', '-n', '--', 'dopq']), { command: 'dopq', args: [] });
  t.is(sudoHelper(['/usr/local/bin/dopq-root']), undefined);
  t.is(sudoHelper(['/usr/bin/sudo', '-n', 'dopq']), undefined);
  t.is(regexLiteral('/srv/a+b (1)/x.yaml#'), '/srv/a\\+b \\(1\\)/x\\.yaml\\#');
  const [, rule] = sudoersLines({ command: '/usr/bin/node', args: ['/opt/dopq/dopq.cjs'] }, '/etc/dopq/lab[1].yaml');
  t.is(rule, 'ALL ALL=(root) NOPASSWD: /usr/bin/node ^/opt/dopq/dopq\\.cjs --config /etc/dopq/lab\\[1\\]\\.yaml node-run [1-9][0-9]{0,9}$');
});

test('words sudoers cannot hold are refused, not written into a rule that means something else', (t) => {
  t.throws(() => sudoersLines({ command: 'dopq', args: [] }, '/etc/dopq/dopq.yaml'), { message: /absolute path/ });
  t.throws(() => sudoersLines({ command: '/usr/local/bin/dopq', args: [] }, '/etc/dopq/my lab.yaml'), { message: /cannot take/ });
  t.throws(() => sudoersLines({ command: '/usr/local/bin/dopq', args: [] }, '/etc/dopq/a,b.yaml'), { message: /cannot take/ });
  t.regex(sudoersText(undefined, '/etc/dopq/dopq.yaml'), /slurm.helper is not \[sudo/);
  // Printed as comments: slurm-setup's output is piped into sh.
  t.regex(
    sudoersText({ command: '/usr/local/bin/dopq', args: [] }, '/etc/dopq/dopq.yaml'),
    /^# {3}ALL ALL=\(root\) NOPASSWD: \/usr\/local\/bin\/dopq \^--config/m,
  );
  t.notRegex(sudoersText({ command: '/usr/local/bin/dopq', args: [] }, '/etc/dopq/dopq.yaml'), /^[^#]/m);
});
