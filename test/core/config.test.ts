import test from 'ava';
import { configKeys, parseConfig } from '../../src/core/config/config.js';
import { InvalidDocumentError } from '../../src/core/errors.js';
import { testConfig } from './fixtures.js';

test('the spool is relative to the config file; defaults fill the rest', (t) => {
  const config = parseConfig('spool: ../spool\n', '/opt/dopq/etc/dopq.yaml');
  t.is(config.spool, '/opt/dopq/spool');
  t.is(config.gpus, 'auto');
  t.is(config.gpu_assignment, 'device-requests');
  t.is(config.penalty.half_life, 7 * 86400);
  t.is(config.docker.socket, '/var/run/docker.sock');
});

test('GPU ids are strings, indices or UUIDs', (t) => {
  t.deepEqual(parseConfig('gpus: [0, GPU-abc]\n', '/x/c.yaml').gpus, ['0', 'GPU-abc']);
});

test('the bundled-style config parses', (t) => {
  const config = testConfig();
  t.deepEqual(config.gpus, ['0', '1', '2', '3']);
  t.is(config.defaults.memory, 1024 ** 3);
  t.is(config.limits.time_limit, 2 * 86400);
});

const bad: [string, RegExp][] = [
  ['gpu_assignment: magic\n', /line 1: gpu_assignment: expected device-requests or env/],
  ['gpus: [0, 0]\n', /line 1: gpus: a GPU is listed twice/],
  ['gpus: some\n', /line 1: gpus: expected "auto" or a list/],
  ['penalty: {half_life: soon}\n', /line 1: penalty.half_life: expected a duration/],
  ['limits: {gpus: 2}\ndefaults: {gpus: 4}\n', /line 2: defaults.gpus: default is above limits.gpus/],
  ['mounts: {allowed_roots: [data]}\n', /line 1: mounts.allowed_roots\[0\]: expected an absolute path/],
  ['colour: red\n', /line 1: colour: unknown field/],
  ['network: {default: host}\n', /network.default: must be one of network.allowed/],
  // Defaults and limits in engine units: a value the engine reads as 0 or refuses is a config error.
  ['limits: {cpus: 0.001}\n', /line 1: limits.cpus: at least 0.01 CPUs/],
  ['defaults:\n  cpus: 0.0000000001\n', /line 2: defaults.cpus: at least 0.01 CPUs/],
  ['limits: {cpus: 0}\n', /line 1: limits.cpus: must be more than 0/],
  ['limits: {cpus: 1e300}\n', /line 1: limits.cpus: at most 9007199 CPUs/],
  ['limits: {memory: 5m}\n', /line 1: limits.memory: at least 6m \(the engine's minimum memory limit\), got 5m/],
  ['defaults: {memory: 1k}\n', /line 1: defaults.memory: at least 6m/],
  ['limits: {memory: 0}\n', /line 1: limits.memory: at least 6m/],
  ['limits: {memory: 1.1g}\n', /line 1: limits.memory: must be a whole number of bytes \(1.5k, not 1.1k\), got "1.1g"/],
  ['limits: {shm: 0}\n', /line 1: limits.shm: at least 1m/],
  ['defaults: {shm: 1}\n', /line 1: defaults.shm: at least 1m/],
  ['defaults: {shm: 0.3k}\n', /line 1: defaults.shm: must be a whole number of bytes/],
];

test('defaults and limits at exactly the engine minimums are accepted; built-in defaults follow a low limit', (t) => {
  const config = parseConfig('limits: {cpus: 0.01, memory: 6m, shm: 1m}\n', '/etc/dopq/dopq.yaml');
  t.like(config.limits, { cpus: 0.01, memory: 6 * 1024 ** 2, shm: 1024 ** 2 });
  t.like(config.defaults, { cpus: 0.01, memory: 6 * 1024 ** 2, shm: 1024 ** 2 });
});

for (const [text, expected] of bad) {
  test(`config rejects ${JSON.stringify(text)}`, (t) => {
    const error = t.throws(() => parseConfig(text, '/etc/dopq/dopq.yaml'), { instanceOf: InvalidDocumentError });
    t.is(error?.exitCode, 78);
    t.is(error?.subject, '/etc/dopq/dopq.yaml');
    t.regex(error?.message ?? '', expected);
  });
}

test('security keys: image allow-list, container groups, output folder template, no container: networks', (t) => {
  const config = parseConfig(
    'images: {allowed: ["pytorch/pytorch:*", "nvcr.io/nvidia/*"]}\ncontainer_groups: [video, datasets]\nmounts: {allowed_roots: [/data], output: {host: "/srv/out/{user}"}}\n',
    '/etc/dopq/dopq.yaml',
  );
  t.deepEqual(config.images.allowed, ['pytorch/pytorch:*', 'nvcr.io/nvidia/*']);
  t.deepEqual(config.container_groups, ['video', 'datasets']);
  t.deepEqual(config.mounts.output, { host: '/srv/out/{user}', container: '/outdir' });
  const defaults = parseConfig('', '/etc/dopq/dopq.yaml');
  t.is(defaults.images.allowed, null);
  t.is(defaults.mounts.output, null);
  t.is(defaults.keep_containers, 0);
  const bad = (text: string) => t.throws(() => parseConfig(text, '/etc/dopq/dopq.yaml')).message;
  t.regex(
    bad('mounts: {output: {host: /srv/out}}\n'),
    /line 1: mounts.output.host: expected an absolute path whose last part holds \{user\}/,
  );
  t.regex(bad('mounts: {output: {host: "/srv/{user}/out"}}\n'), /last part holds \{user\}/);
  t.regex(bad('network: {allowed: [none, "container:abc"]}\n'), /container:... is never allowed/);
  t.regex(bad('container_groups: ["bad group"]\n'), /expected a group name/);
  t.regex(
    bad('container_groups: [video, docker]\n'),
    /line 1: container_groups\[1\]: groups that grant root on the host are never given to jobs/,
  );
});

test('dopq.yaml(5) documents every config key', async (t) => {
  const { readFile } = await import('node:fs/promises');
  const { fileURLToPath } = await import('node:url');
  const page = await readFile(fileURLToPath(new URL('../../../man/dopq.yaml.5', import.meta.url)), 'utf8');
  const keys = configKeys();
  t.true(keys.length > 30, keys.join(' '));
  for (const key of keys) {
    // Written in full, or as a sibling of its parent (".B defaults.gpus\fR, \fB.memory").
    const parent = key.slice(0, key.lastIndexOf('.') + 1);
    const documented =
      page.includes(`.B ${key}`) ||
      page.includes(`\\fB${key}`) ||
      (parent !== '' && page.includes(parent) && page.includes(`\\fB.${key.slice(parent.length)}`));
    t.true(documented, key);
  }
});
