import test from 'ava';
import fc from 'fast-check';
import { buildOutputCutMarker, capOutput } from '../../src/core/job/output-cap.js';

const text = (parts: Uint8Array[]) => parts.map((p) => Buffer.from(p).toString('latin1')).join('');
const feed = (limit: number, chunks: string[]) => {
  const cap = capOutput(limit, 'CUT\n');
  return text(chunks.flatMap((chunk) => cap.take(Buffer.from(chunk, 'latin1'))));
};

test('under the limit everything is kept and no marker is written', (t) => {
  t.is(feed(10, ['abc\n', 'de\n']), 'abc\nde\n');
});

test('past the limit: whole lines that fit, then the marker once, then nothing', (t) => {
  t.is(feed(10, ['abc\n', 'defg\nhij\n', 'more\n', 'and more\n']), 'abc\ndefg\nCUT\n');
});

test('one long line is cut mid-line and the marker starts a line of its own', (t) => {
  t.is(feed(4, ['abcdefgh']), 'abcd\nCUT\n');
});

test('the marker names the size as the config writes it', (t) => {
  t.is(buildOutputCutMarker(10 * 1024 ** 2), 'dopq: build output cut at 10 MB (builds.log_size); the build goes on\n');
});

test('property: the kept bytes are a prefix of the input, at most the limit, then the marker once', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 64 }), fc.array(fc.stringMatching(/^[ab\n]{0,20}$/), { maxLength: 20 }), (limit, chunks) => {
      const out = feed(limit, chunks);
      const input = chunks.join('');
      if (input.length <= limit) return out === input;
      const at = out.indexOf('CUT\n');
      const before = out.slice(0, at);
      // The line before the marker may end with a newline the cap added.
      const prefix = (kept: string) => input.startsWith(kept) && kept.length <= limit;
      return (
        at >= 0 &&
        out.endsWith('CUT\n') &&
        out.split('CUT\n').length === 2 &&
        (prefix(before) || (before.endsWith('\n') && prefix(before.slice(0, -1))))
      );
    }),
  );
  t.pass();
});
