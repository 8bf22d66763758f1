// The name and GPU count `dopq q` shows for a job the daemon has not read yet: read from the
// manifest text as the daemon reads it, never throwing, and for every manifest push accepts the
// same as the daemon's own reading.
import test from 'ava';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { summarizeManifest } from '../../src/core/job/manifest-summary.js';
import { parseManifest } from '../../src/core/job/manifest.js';
import { testConfig } from './fixtures.js';

const cases: [string, string, { name?: string; gpus?: number }][] = [
  ['block style', 'name: train-3\nimage: a\ngpus: 2\n', { name: 'train-3', gpus: 2 }],
  ['quoted name', 'name: "r.1_x"\nimage: a\n', { name: 'r.1_x' }],
  ['no name, no gpus', 'image: a\ncommand: python train.py\n', {}],
  ['zero GPUs', 'image: a\ngpus: 0\n', { gpus: 0 }],
  ['a comment after the count', 'image: a\ngpus: 3 # three\n', { gpus: 3 }],
  ['flow style', '{name: flow, image: a, gpus: 1}\n', { name: 'flow', gpus: 1 }],
  ['JSON', '{"name": "from-json", "image": "a", "gpus": 4}\n', { name: 'from-json', gpus: 4 }],
  ['a nested name is not the job name', 'image: a\nbuild:\n  name: inner\n', {}],
  ['name: in a block scalar', 'image: a\ncommand: |\n  name: fake\n  gpus: 9\n', {}],
  ['a name the daemon refuses', 'name: my job\nimage: a\n', {}],
  ['a name that is a number', 'name: 123\nimage: a\n', {}],
  ['a GPU count the daemon refuses', 'image: a\ngpus: -1\n', {}],
  ['a fractional GPU count', 'image: a\ngpus: 1.5\n', {}],
  ['a GPU count as a string', 'image: a\ngpus: "2"\n', {}],
  ['not YAML', 'name: x\n  : : [\n', {}],
  ['an alias', 'base: &b 1\nname: x\ngpus: *b\n', {}],
  ['a duplicate key', 'name: x\nname: y\n', {}],
  ['a list', '- name: x\n', {}],
  ['a scalar', 'just text\n', {}],
  ['empty', '', {}],
  ['nesting past the stack', `name: x\nimage: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`, {}],
];

for (const [title, text, expected] of cases) {
  test(`summary: ${title}`, (t) => {
    t.deepEqual(summarizeManifest(text), expected);
  });
}

const jobName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/);
const fields = fc.record(
  {
    name: jobName,
    gpus: fc.integer({ min: 0, max: 4 }),
    command: fc.constantFrom('python train.py', 'echo name: x', 'printf "gpus: 7\\n"'),
    env: fc.dictionary(fc.constantFrom('A', 'B', 'NAME'), fc.constantFrom('x', 'gpus: 2', 'name: y')),
  },
  { requiredKeys: [] },
);
// Every style a user may write, and the block style push writes for a DoPQ bundle.
const styles = [
  (value: object) => stringify(value),
  (value: object) => JSON.stringify(value),
  (value: object) => stringify(value, { collectionStyle: 'flow' }),
];

test('property: for every manifest push accepts, the summary is what the daemon reads', (t) => {
  const config = testConfig();
  fc.assert(
    fc.property(fields, fc.constantFrom(...styles), (given, style) => {
      const text = style({ image: 'a', ...given });
      const parsed = parseManifest(text, config, 'stem');
      if (!parsed.ok) return true; // push refuses it: it never reaches the intake
      const summary = summarizeManifest(text);
      return summary.name === given.name && summary.gpus === given.gpus && (given.name ?? 'stem') === parsed.manifest.name;
    }),
  );
  t.pass();
});

// The regular expressions this replaced: on block-style manifests they agreed with the YAML reading.
const OLD_NAME = /^name:\s*["']?([A-Za-z0-9][A-Za-z0-9_.-]*)/m;
const OLD_GPUS = /^gpus:\s*(\d+)\s*$/m;

test('property: on block-style manifests the summary is what the regular expressions found', (t) => {
  fc.assert(
    fc.property(fields, (given) => {
      const text = stringify({ image: 'a', ...given });
      const summary = summarizeManifest(text);
      const gpus = OLD_GPUS.exec(text)?.[1];
      return summary.name === OLD_NAME.exec(text)?.[1] && summary.gpus === (gpus === undefined ? undefined : Number(gpus));
    }),
  );
  t.pass();
});

test('property: any text gives a summary, never a throw', (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (text) => {
      const summary = summarizeManifest(text);
      return typeof summary === 'object';
    }),
  );
  t.pass();
});
