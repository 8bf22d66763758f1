// Where a spool may go: a config without `spool` uses /var/spool/dopq, the server template says
// so, and a spool under /etc is refused naming the key, its line and why it landed there.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { parseConfig } from '../../src/core/config/config.js';
import { SYSTEM_SPOOL, spoolLocationIssue } from '../../src/core/config/spool-location.js';

test('a config without spool keeps the queue in /var/spool/dopq, wherever the config is', (t) => {
  t.is(SYSTEM_SPOOL, '/var/spool/dopq');
  t.is(parseConfig('gpus: [0]\n', '/etc/dopq/dopq.yaml').spool, '/var/spool/dopq');
  t.is(parseConfig('', '/opt/x/dopq.yaml').spool, '/var/spool/dopq');
  // A relative one is still the config's folder's (the bundled demo config keeps ../spool).
  t.is(parseConfig('spool: ../spool\n', '/opt/dopq/etc/dopq.yaml').spool, '/opt/dopq/spool');
});

test('the server template (etc/dopq.server.yaml) parses, with its spool in /var/spool/dopq', async (t) => {
  const file = fileURLToPath(new URL('../../../etc/dopq.server.yaml', import.meta.url));
  const config = parseConfig(await readFile(file, 'utf8'), '/etc/dopq/dopq.yaml');
  t.is(config.spool, SYSTEM_SPOOL);
  t.is(config.gpus, 'auto');
  t.is(config.gpu_assignment, 'device-requests');
});

test('a spool under /etc is refused with the line of spool:, and why a relative one landed there', (t) => {
  const copied = "gpus: [0]\n# the clone's\nspool: ../spool\n";
  // The config as a whole is refused (every command), with this issue.
  t.throws(() => parseConfig(copied, '/etc/dopq/dopq.yaml'), { message: /line 3: spool: \/etc\/spool is under \/etc/ });
  t.deepEqual(spoolLocationIssue('/etc/spool', copied), {
    path: 'spool',
    line: 3,
    message:
      "/etc/spool is under /etc, which holds configuration, not a queue (`../spool` is relative to the config's folder); use an absolute path such as /var/spool/dopq",
  });
  t.is(spoolLocationIssue('/etc', 'spool: /etc\n')?.line, 1);
  t.regex(spoolLocationIssue('/etc/dopq/q', 'spool: /etc/dopq/q\n')?.message ?? '', /^\/etc\/dopq\/q is under \/etc, .*; use an absolute/);
  t.notRegex(spoolLocationIssue('/etc/dopq/q', 'spool: /etc/dopq/q\n')?.message ?? '', /relative/);
  // Not under /etc: /etcetera, /var/spool/dopq, a path that only mentions etc.
  for (const fine of ['/etcetera/spool', '/var/spool/dopq', '/srv/etc/spool', '/'])
    t.is(spoolLocationIssue(fine, `spool: ${fine}\n`), undefined, fine);
});
