import test from 'ava';
import { baseImageRefusals, referenceRefusals } from '../../src/core/job/dockerfile-check.js';
import { readDockerfile } from '../../src/core/job/dockerfile-refs.js';

const rules = { uid: 1001, allowed: null };

test('a Dockerfile may build on public images, its own job images and its own stages', (t) => {
  const text =
    'FROM pytorch/pytorch:2.3 AS base\nFROM --platform=linux/amd64 dopq-abc/u1001:job-4\nCOPY --from=base /x /x\nCOPY --from=0 /y /y\nFROM scratch\n';
  t.deepEqual(baseImageRefusals(text, rules), []);
});

test("another user's job image, image IDs and unresolvable variables are refused, with the line", (t) => {
  const text = [
    '# comment',
    'FROM dopq-abc/u1002:job-7',
    'FROM $UNSET',
    'FROM sha256:' + 'a'.repeat(64),
    'COPY --from=dopq-abc/u1002:job-9 \\',
    '  /code /code',
  ].join('\n');
  const refusals = baseImageRefusals(text, rules);
  t.is(refusals.length, 4, refusals.join('\n'));
  t.is(refusals[0], "line 2: FROM dopq-abc/u1002:job-7: another user's job image");
  t.regex(refusals[1]!, /^line 3: .*cannot be resolved statically/);
  t.is(refusals[2], `line 4: FROM sha256:${'a'.repeat(64)}: name the image; dopq does not build on an image by ID`);
  t.is(refusals[3], "line 5: COPY --from dopq-abc/u1002:job-9: another user's job image");
});

test('an ARG before FROM is substituted as Docker does, build args first: the name it makes is checked', (t) => {
  const text = 'ARG OWNER=u1001\nFROM dopq-abc/${OWNER}:job-1\n';
  t.deepEqual(baseImageRefusals(text, rules), []);
  t.deepEqual(baseImageRefusals(text, { ...rules, args: { OWNER: 'u1002' } }), [
    "line 2: FROM dopq-abc/u1002:job-1: another user's job image",
  ]);
});

test("only the name-based refusals of other users' images are permission refusals", (t) => {
  const reading = readDockerfile('FROM docker.io/dopq-x/u7:job-1\nFROM ubuntu\n', {});
  const refusals = referenceRefusals(reading, { uid: 1001, allowed: ['pytorch/*'] });
  t.deepEqual(
    refusals.map((r) => [r.line, r.foreign]),
    [
      [1, true],
      [2, false],
    ],
  );
});

test('images.allowed applies to base images too', (t) => {
  const refusals = baseImageRefusals('FROM ubuntu:22.04\nFROM pytorch/pytorch:2.3\n', { uid: 1, allowed: ['pytorch/pytorch:*'] });
  t.deepEqual(refusals, ['line 1: FROM ubuntu:22.04: this server builds only on pytorch/pytorch:*']);
});
