// Random and mutated YAML fed to the manifest reader: it always returns a manifest or a
// structured error (field, line, message), never throws. Same for the envelope decoder.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/core/config/config.js';
import { decodeEnvelope } from '../../src/core/job/envelope.js';
import { parseManifest, type ManifestResult } from '../../src/core/job/manifest.js';
import { CORPUS_DIR as CORPUS, corpusConfig } from '../corpus/corpus-config.js';

const config = parseConfig(stringify(corpusConfig('/srv/jobs')), '/etc/dopq/dopq.yaml');
const seeds = [
  'name: train\nimage: pytorch/pytorch:2.3\ncommand: [python, train.py]\ngpus: 2\nmemory: 4g\nenv: {A: b}\nmounts: ["/data/x:/x:ro"]\ntime_limit: 2h\n',
  ...readdirSync(CORPUS).map((f) => readFileSync(path.join(CORPUS, f), 'utf8')),
];

function wellFormed(result: ManifestResult): boolean {
  if (result.ok) return typeof result.manifest.image === 'string' && Number.isInteger(result.manifest.gpus);
  return (
    Array.isArray(result.issues) &&
    result.issues.length > 0 &&
    result.issues.every(
      (issue) =>
        typeof issue.path === 'string' &&
        typeof issue.message === 'string' &&
        issue.message.length > 0 &&
        (issue.line === undefined || (Number.isInteger(issue.line) && issue.line >= 1)),
    )
  );
}

// YAML's own punctuation, so mutations hit the parser's corners (anchors, tags, flow, blocks).
const yamlChar = fc.constantFrom(...': -[]{},&*!|>\'"#%@`?\n\t\\0.eE~'.split(''), '\u0000', '\uFEFF', '\u2028');
const mutation = fc.record({
  at: fc.nat(),
  remove: fc.nat({ max: 8 }),
  insert: fc.oneof(
    fc.string(),
    fc.array(yamlChar, { maxLength: 6 }).map((c) => c.join('')),
  ),
});

test('property: random text never throws', (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.string({ unit: 'binary' }),
        fc.array(yamlChar, { maxLength: 200 }).map((c) => c.join('')),
      ),
      (text) => wellFormed(parseManifest(text, config)),
    ),
    { numRuns: 2000 },
  );
  t.pass();
});

test('property: any YAML value never throws', (t) => {
  fc.assert(
    fc.property(fc.anything({ withNullPrototype: true, withBigInt: false, withDate: true, withMap: false, withSet: false }), (value) => {
      let text: string | undefined;
      try {
        text = stringify(value) as string | undefined;
      } catch {
        return true; // not representable as YAML: nothing to feed
      }
      if (typeof text !== 'string') return true; // stringify(undefined)
      return wellFormed(parseManifest(text, config));
    }),
    { numRuns: 1000 },
  );
  t.pass();
});

test('property: mutations of good and bad manifests never throw', (t) => {
  fc.assert(
    fc.property(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 5 }), (seed, mutations) => {
      let text = seed;
      for (const m of mutations) {
        const at = m.at % (text.length + 1);
        text = text.slice(0, at) + m.insert + text.slice(at + m.remove);
      }
      return wellFormed(parseManifest(text, config));
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

test('property: manifest fields with random values never throw', (t) => {
  const field = fc.constantFrom(
    'name',
    'image',
    'command',
    'gpus',
    'memory',
    'cpus',
    'shm',
    'env',
    'workdir',
    'mounts',
    'time_limit',
    'network',
  );
  fc.assert(
    fc.property(fc.dictionary(field, fc.jsonValue()), (fields) =>
      wellFormed(parseManifest(stringify({ image: 'dopq-busybox:latest', ...fields }), config)),
    ),
    { numRuns: 2000 },
  );
  t.pass();
});

test('property: the envelope decoder returns an envelope or an error for any text', (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.json(),
        fc.jsonValue().map((v) => JSON.stringify(v)),
      ),
      (text) => {
        const result = decodeEnvelope(text);
        return 'error' in result
          ? typeof result.error === 'string'
          : Number.isSafeInteger(result.id) && typeof result.manifest === 'string';
      },
    ),
    { numRuns: 2000 },
  );
  t.pass();
});
