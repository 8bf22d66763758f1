// Schema problems in our words: a field's own `error` when it has one, else a message built from
// zod's issue code and fields, with the value given; never zod's own wording.
import test from 'ava';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { z } from 'zod';
import { checkSchema, withoutGivenValue } from '../../src/core/document/schema-issues.js';
import { readYaml } from '../../src/core/document/yaml-source.js';
import { parseConfig, configKeys } from '../../src/core/config/config.js';
import { InvalidDocumentError } from '../../src/core/errors.js';

const schema = z.strictObject({
  plain: z.string().optional(),
  own: z.number({ error: 'expected a number of things' }).optional(),
  small: z.number().min(2).optional(),
  big: z.number().max(9).optional(),
  either: z.union([z.string(), z.number()]).optional(),
  needed: z.union([z.string(), z.number()]),
  choice: z.enum(['a', 'b']).optional(),
  keyed: z.record(z.string().regex(/^k/, { error: 'expected a key starting with k' }), z.number()).optional(),
  nested: z.strictObject({ inner: z.boolean() }).optional(),
});

function messages(text: string): string[] {
  const yaml = readYaml(text);
  if (!yaml.ok) throw new Error('bad YAML in the test');
  const result = checkSchema(schema, yaml.source);
  return result.ok ? [] : result.issues.map((issue) => `${issue.path}: ${issue.message}`);
}

const cases: [string, string, string[]][] = [
  ['a missing field', 'plain: x\n', ['needed: is required']],
  ['the wrong type', 'needed: 1\nplain: [1]\n', ['plain: expected string, got a list']],
  ["the field's own message", 'needed: 1\nown: many\n', ['own: expected a number of things, got "many"']],
  ['too small', 'needed: 1\nsmall: 1\n', ['small: must be at least 2, got 1']],
  ['too big', 'needed: 1\nbig: 10\n', ['big: must be at most 9, got 10']],
  ['no branch of a union', 'needed: 1\neither: true\n', ['either: expected string or number, got true']],
  ['not one of the choices', 'needed: 1\nchoice: c\n', ['choice: expected "a" or "b", got "c"']],
  ['a bad key names the key', 'needed: 1\nkeyed: {x: 1}\n', ['keyed.x: expected a key starting with k (a key), got "x"']],
  [
    'unknown fields, one each',
    'needed: 1\nextra: 1\nnested: {inner: true, more: 1}\n',
    ['nested.more: unknown field in nested', 'extra: unknown field'],
  ],
];

for (const [title, text, expected] of cases) {
  test(`schema issue: ${title}`, (t) => {
    t.deepEqual(messages(text), expected);
  });
}

test('the line of each problem is the field’s', (t) => {
  const yaml = readYaml('needed: 1\nnested:\n  inner: 3\n');
  const result = yaml.ok ? checkSchema(schema, yaml.source) : undefined;
  t.deepEqual(result?.ok === false ? result.issues : [], [{ path: 'nested.inner', line: 3, message: 'expected boolean, got 3' }]);
});

const anyValue = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -5, max: 5 }),
  fc.double({ noNaN: true }),
  fc.string({ maxLength: 5 }),
  fc.constant([]),
  fc.constant({ x: 1 }),
);

test('property: no config problem is worded by zod', (t) => {
  const keys = configKeys();
  fc.assert(
    fc.property(fc.constantFrom(...keys), anyValue, (key, value) => {
      const doc: Record<string, unknown> = {};
      let node = doc;
      const parts = key.split('.');
      for (const part of parts.slice(0, -1)) node = (node[part] = {}) as Record<string, unknown>;
      node[parts.at(-1)!] = value;
      try {
        parseConfig(stringify(doc), '/etc/dopq/dopq.yaml');
      } catch (error) {
        if (!(error instanceof InvalidDocumentError)) throw error;
        return error.issues.every((issue) => !/^(Invalid|Too |Unrecognized)/.test(issue.message));
      }
      return true;
    }),
  );
  t.pass();
});

test('an unknown config key names the key meant, at any depth', (t) => {
  const problems = (text: string): string[] => {
    try {
      parseConfig(text, '/etc/dopq/dopq.yaml');
      return [];
    } catch (error) {
      if (!(error instanceof InvalidDocumentError)) throw error;
      return error.issues.map((issue) => `${issue.line}: ${issue.path}: ${issue.message}`).sort();
    }
  };
  t.deepEqual(problems('gpu_asignment: env\nlimits:\n  per_user: {gpu: 2}\nbuilds: {keep_image: {per_user: 1}}\n'), [
    '1: gpu_asignment: unknown field; did you mean gpu_assignment?',
    '3: limits.per_user.gpu: unknown field in limits.per_user; did you mean gpus?',
    '4: builds.keep_image: unknown field in builds; did you mean keep_images?',
  ]);
  t.deepEqual(problems('colour: red\n'), ['1: colour: unknown field']);
});

test('withoutGivenValue drops the quoted value and keeps what was expected', (t) => {
  t.is(
    withoutGivenValue('expected a size such as 512m or 32g for memory, got "sk-SECRET"'),
    'expected a size such as 512m or 32g for memory',
  );
  t.is(withoutGivenValue('at most 8g, got 1t'), 'at most 8g');
  t.is(withoutGivenValue('unknown field (a key), got "x\ny"'), 'unknown field (a key)');
  t.is(withoutGivenValue('is required'), 'is required');
});
