// CPU, memory and shm requests checked in the engine's units: nothing accepted becomes 0
// ("unlimited" or "the default") in the container spec, or falls under the engine's minimum.
import test from 'ava';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { parseConfig, type Config } from '../../src/core/config/config.js';
import { containerSpec } from '../../src/core/job/container-spec.js';
import { parseManifest } from '../../src/core/job/manifest.js';
import { cpusProblem, MIN_MEMORY, MIN_NANO_CPUS, MIN_SHM, nanoCpus, resourceSize } from '../../src/core/document/resource-units.js';
import { testConfig } from './fixtures.js';

const host = { gid: 1001, groups: [], binds: [] };
const UNITS = ['', 'b', 'k', 'kb', 'm', 'mb', 'g', 'gb', 't', 'K', 'M', 'G'];

test('the minimums in engine units', (t) => {
  t.is(MIN_NANO_CPUS, 1e7);
  t.is(MIN_MEMORY, 6 * 1024 * 1024);
  t.is(MIN_SHM, 1024 * 1024);
});

const cpus: [number, string | undefined][] = [
  [1, undefined],
  [0.01, undefined],
  [0.5, undefined],
  [0.0099999999, undefined], // 9999999.9 nano: the engine gets 1e7
  [0.009999999, 'at least 0.01 CPUs'], // 9999999 nano
  [0.0099, 'at least 0.01 CPUs'],
  [0.005, 'at least 0.01 CPUs'],
  [0.0000000001, 'at least 0.01 CPUs'],
  [Number.MIN_VALUE, 'at least 0.01 CPUs'],
  [0, 'must be more than 0'],
  [-1, 'must be more than 0'],
  [Number.POSITIVE_INFINITY, 'must be more than 0'],
  [Number.NaN, 'must be more than 0'],
  [1e10, 'at most 9007199 CPUs'],
];
for (const [value, problem] of cpus) {
  test(`cpus ${value}: ${problem ?? 'accepted'}`, (t) => {
    const found = cpusProblem(value);
    if (problem === undefined) {
      t.is(found, undefined);
      t.true(nanoCpus(value) >= MIN_NANO_CPUS);
    } else t.true(found?.includes(problem), found);
  });
}

const sizes: ['memory' | 'shm', string | number, number | string][] = [
  ['memory', '6m', 6 * 1024 ** 2],
  ['memory', '1.5g', 1.5 * 1024 ** 3],
  ['memory', '0.5k', 'at least 6m'],
  ['memory', '1k', "at least 6m (the engine's minimum memory limit), got 1k"],
  ['memory', 6291455, 'at least 6m'],
  ['memory', 6291456, 6291456],
  ['memory', 512, 'got 512b'],
  ['memory', '1.1g', 'must be a whole number of bytes'],
  ['memory', '0.1k', 'must be a whole number of bytes'],
  ['memory', 6291456.5, 'must be a whole number of bytes'],
  ['memory', '6291456.0', 6291456],
  ['memory', '0.0000000000000000000000001t', 'must be a whole number of bytes'],
  ['memory', 'lots', 'expected a size'],
  ['memory', -7, 'expected a size'],
  ['memory', -7.5, 'expected a size'],
  ['memory', '1e9', 'expected a size'],
  ['memory', '99999999999t', 'expected a size'],
  ['shm', '1m', 1024 ** 2],
  ['shm', 0, 'at least 1m'],
  ['shm', '0', 'at least 1m'],
  ['shm', '1b', 'at least 1m'],
  ['shm', '1023k', 'at least 1m'],
  ['shm', '0.5b', 'must be a whole number of bytes'],
];
for (const [kind, value, expected] of sizes) {
  test(`${kind} ${JSON.stringify(value)}: ${expected}`, (t) => {
    const result = resourceSize(kind, value);
    if (typeof expected === 'number') t.deepEqual(result, { bytes: expected });
    else t.true('problem' in result && result.problem.includes(expected), JSON.stringify(result));
  });
}

const cpuValue = fc.oneof(
  fc.double({ min: 0, max: 16, noNaN: true }),
  fc.double({ min: 0, max: 0.02, noNaN: true }),
  fc.integer({ min: -2, max: 16 }),
  fc.constantFrom(1e-10, 0.0099999, 0.00999999999, 0.01, 0.010000001, 0.005, 5e-324),
);
const sizeValue = fc.oneof(
  fc.nat({ max: 64 * 1024 ** 2 }),
  fc
    .tuple(
      fc.oneof(fc.nat({ max: 4096 }), fc.double({ min: 0, max: 4096, noNaN: true, noDefaultInfinity: true })),
      fc.constantFrom(...UNITS),
    )
    .map(([n, unit]) => `${n}${unit}`),
  fc.constantFrom(0, 1, '0', '1b', '1k', '5m', '6m', '6143k', '6144k', '1023k', '1m', '1.1g', '0.5g'),
);
const resources = fc.record({ cpus: cpuValue, memory: sizeValue, shm: sizeValue }, { requiredKeys: [] });

/** undefined when the manifest is refused; else whether its container spec meets the minimums. */
function meetsMinimums(config: Config, text: string): boolean | undefined {
  const result = parseManifest(text, config);
  if (!result.ok) return undefined;
  const spec = containerSpec({ id: 7, uid: 1001, user: 'alice', manifest: result.manifest, image: 'a' }, [], config, 'inst', host);
  const { NanoCpus, Memory, MemorySwap, ShmSize } = spec.HostConfig;
  return (
    Number.isSafeInteger(NanoCpus) &&
    NanoCpus >= MIN_NANO_CPUS &&
    Number.isSafeInteger(Memory) &&
    Memory >= MIN_MEMORY &&
    MemorySwap === Memory &&
    Number.isSafeInteger(ShmSize) &&
    ShmSize >= MIN_SHM
  );
}

test('property: every accepted manifest gets NanoCpus, Memory and ShmSize at or above the minimums', (t) => {
  const config = parseConfig(stringify({ limits: { cpus: 16, memory: '64g', shm: '8g' } }), '/etc/dopq/dopq.yaml');
  let accepted = 0;
  fc.assert(
    fc.property(resources, (fields) => {
      const verdict = meetsMinimums(config, stringify({ image: 'a', ...fields }));
      if (verdict !== undefined) accepted += 1;
      return verdict !== false;
    }),
    { numRuns: 3000 },
  );
  t.true(accepted > 300, `only ${accepted} accepted`);
});

test('property: defaults and limits the config accepts meet the minimums too', (t) => {
  let accepted = 0;
  fc.assert(
    // One set as defaults, limits or both, so defaults above limits do not drown the rest.
    fc.property(resources, fc.constantFrom(['defaults'], ['limits'], ['defaults', 'limits']), (set, keys) => {
      let config: Config;
      try {
        config = parseConfig(stringify(Object.fromEntries(keys.map((key) => [key, set]))), '/etc/dopq/dopq.yaml');
      } catch {
        return true;
      }
      accepted += 1;
      const inEngineUnits = [config.defaults, config.limits].every(
        (set) => nanoCpus(set.cpus) >= MIN_NANO_CPUS && set.memory >= MIN_MEMORY && set.shm >= MIN_SHM,
      );
      // A manifest that asks for nothing runs with the defaults.
      return inEngineUnits && meetsMinimums(config, 'image: a\n') === true;
    }),
    { numRuns: 2000 },
  );
  t.true(accepted > 100, `only ${accepted} accepted`);
});

test('the fixture config and a manifest at exactly the minimums', (t) => {
  const result = parseManifest('image: a\ncpus: 0.01\nmemory: 6m\nshm: 1m\n', testConfig());
  t.true(result.ok);
  if (!result.ok) return;
  const spec = containerSpec({ id: 7, uid: 1001, user: 'alice', manifest: result.manifest, image: 'a' }, [], testConfig(), 'inst', host);
  t.like(spec.HostConfig, { NanoCpus: 1e7, Memory: 6 * 1024 ** 2, MemorySwap: 6 * 1024 ** 2, ShmSize: 1024 ** 2 });
});
