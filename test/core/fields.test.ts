// The field types the config and the manifest share: one check, one wording, in both documents.
import test from 'ava';
import { absolutePathSchema, isAbsoluteWithoutDotDot } from '../../src/core/document/fields.js';
import { parseConfig } from '../../src/core/config/config.js';
import { parseManifest } from '../../src/core/job/manifest.js';
import { InvalidDocumentError } from '../../src/core/errors.js';
import { testConfig } from './fixtures.js';

const paths: [string, boolean][] = [
  ['/', true],
  ['/data', true],
  ['/data/./x', true],
  ['/data/..x/y', true], // `..x` is a name, not a step up
  ['/data/../etc', false],
  ['/..', false],
  ['data', false],
  ['./data', false],
  ['', false],
  ['~/data', false],
];

for (const [p, ok] of paths) {
  test(`isAbsoluteWithoutDotDot(${JSON.stringify(p)}) is ${ok}`, (t) => {
    t.is(isAbsoluteWithoutDotDot(p), ok);
    t.is(absolutePathSchema('x').safeParse(p).success, ok);
  });
}

test('the schema names the field in both of its messages', (t) => {
  const notString = absolutePathSchema('the socket').safeParse(3);
  const relative = absolutePathSchema('the socket').safeParse('run/docker.sock');
  t.is(notString.error?.issues[0]?.message, 'expected an absolute path for the socket');
  t.is(relative.error?.issues[0]?.message, 'expected an absolute path without .. for the socket');
});

function configMessage(text: string): string {
  try {
    parseConfig(text, '/etc/dopq/dopq.yaml');
  } catch (error) {
    if (error instanceof InvalidDocumentError) return error.issues.map((issue) => issue.message).join('; ');
    throw error;
  }
  return '';
}

test('a relative path reads the same in the config and in a manifest', (t) => {
  const manifest = parseManifest('image: a\nworkdir: run/../x\n', testConfig());
  const manifestMessage = manifest.ok ? '' : manifest.issues.map((issue) => issue.message).join('; ');
  t.is(manifestMessage, 'expected an absolute path without .. for workdir, got "run/../x"');
  t.is(configMessage('docker: {socket: run/../x}\n'), 'expected an absolute path without .. for the Docker socket, got "run/../x"');
});
