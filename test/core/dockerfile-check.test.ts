import test from 'ava';
import { baseImageRefusals } from '../../src/core/dockerfile-check.js';

const rules = { uid: 1001, allowed: null };

test('a Dockerfile may build on public images, its own job images and its own stages', (t) => {
  const text = 'FROM pytorch/pytorch:2.3 AS base\nFROM --platform=linux/amd64 dopq-abc/u1001:job-4\nCOPY --from=base /x /x\nCOPY --from=0 /y /y\nFROM scratch\n';
  t.deepEqual(baseImageRefusals(text, rules), []);
});

test("another user's job image, image IDs and variables are refused, with the line", (t) => {
  const text = [
    '# comment',
    'FROM dopq-abc/u1002:job-7',
    'ARG BASE=x',
    'FROM $BASE',
    'FROM sha256:' + 'a'.repeat(64),
    'COPY --from=dopq-abc/u1002:job-9 \\',
    '  /code /code',
  ].join('\n');
  t.deepEqual(baseImageRefusals(text, rules), [
    "line 2: dopq-abc/u1002:job-7: another user's job image",
    'line 4: $BASE: name the base image; dopq does not build on an image named by a variable',
    `line 5: sha256:${'a'.repeat(64)}: name the base image; dopq does not build on an image by ID`,
    "line 6: dopq-abc/u1002:job-9: another user's job image",
  ]);
});

test('images.allowed applies to base images too', (t) => {
  const refusals = baseImageRefusals('FROM ubuntu:22.04\nFROM pytorch/pytorch:2.3\n', { uid: 1, allowed: ['pytorch/pytorch:*'] });
  t.deepEqual(refusals, ['line 1: ubuntu:22.04: this server builds only on pytorch/pytorch:*']);
});
