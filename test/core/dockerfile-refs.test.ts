// readDockerfile/readTrigger against what Docker 20.10's legacy builder (buildkit parser v0.8)
// does with the same text: each row's expectation is the engine's reading, quirks included.
import test from 'ava';
import fc from 'fast-check';
import { readDockerfile, readTrigger, type DockerfileReading } from '../../src/core/job/dockerfile-refs.js';

/** `line kind name`, plus ` onbuild` for trigger references: short enough to read in a table. */
const refsOf = (reading: DockerfileReading) => reading.refs.map((r) => `${r.line} ${r.kind} ${r.name}${r.viaOnbuild ? ' onbuild' : ''}`);
const problemLines = (reading: DockerfileReading) => reading.problems.map((p) => p.line);

interface Row {
  title: string;
  text: string;
  refs: string[];
  /** Lines of the expected problems (0 = the whole file). */
  problems?: number[];
  buildArgs?: Record<string, string>;
}

const rows: Row[] = [
  // Lines, escapes and continuations
  {
    title: 'backtick escape: a trailing backslash is no continuation',
    text: '# escape=`\nFROM busybox:1\nRUN echo \\\nFROM other:1\n',
    refs: ['2 from busybox:1', '4 from other:1'],
  },
  {
    title: 'backtick escape: a trailing backtick continues, so the next FROM is part of the RUN',
    text: '# escape=`\nFROM busybox:1\nRUN echo `\nFROM other:1\n',
    refs: ['2 from busybox:1'],
  },
  {
    title: 'default escape: a trailing backtick hides nothing',
    text: 'FROM busybox:1\nRUN echo `\nFROM other:1\n',
    refs: ['1 from busybox:1', '3 from other:1'],
  },
  {
    title: 'default escape: a trailing backslash continues into the FROM',
    text: 'FROM busybox:1\nRUN echo \\\nFROM other:1\n',
    refs: ['1 from busybox:1'],
  },
  {
    title: 'an escaped escape token at the end does not continue',
    text: 'FROM a\nRUN echo \\\\\nFROM b\n',
    refs: ['1 from a', '3 from b'],
  },
  {
    title: 'comments, blank and whitespace-only lines inside a continuation are skipped',
    text: 'FROM a\nRUN echo \\\n# FROM c1\n\n   \n  \\\nFROM hidden\nFROM b\n',
    refs: ['1 from a', '8 from b'],
  },
  {
    title: 'a FROM split over a continuation with a comment inside',
    text: 'FROM \\\n  # note\n  alpine:3 AS base\nFROM b\nCOPY --from=base / /\n',
    refs: ['1 from alpine:3', '4 from b'],
  },
  { title: 'FRO\\ + M x joins without a space: the engine reads FROM x', text: 'FRO\\\nM x\n', refs: ['1 from x'] },
  {
    title: 'CRLF: the \\r goes, so the backslash still continues',
    text: 'FROM a\r\nRUN x \\\r\nFROM hidden\r\nFROM b\r\n',
    refs: ['1 from a', '4 from b'],
  },
  { title: 'a BOM before a directive', text: '\uFEFF# escape=`\nFROM a\nRUN x `\nFROM hidden\n', refs: ['2 from a'] },
  {
    title: 'leading whitespace and a lower-case instruction',
    text: ' \t from alpine\n\tCoPy --from=alice/tools / /\n',
    refs: ['1 from alpine', '2 copy-from alice/tools'],
  },
  {
    title: 'a # after an instruction is no comment; a # line is',
    text: '# FROM commented\nFROM a # not a comment here\n',
    refs: [],
    problems: [2],
  },
  {
    title: 'heredocs are unknown to 20.10: the body is read as instructions',
    text: 'FROM a\nRUN <<EOF\nFROM evil/image\nEOF\n',
    refs: ['1 from a', '3 from evil/image'],
  },
  // Directives
  { title: 'a duplicate escape directive aborts the parse', text: '# escape=`\n# escape=\\\nFROM a\n', refs: [], problems: [2] },
  { title: 'an invalid escape token aborts the parse', text: '# escape=x\nFROM a\n', refs: [], problems: [1] },
  {
    title: 'an unknown directive ends directives: a later escape= is a comment',
    text: '# foo=bar\n# escape=`\nFROM a\nRUN x `\nFROM b\n',
    refs: ['3 from a', '5 from b'],
  },
  { title: 'a blank line ends directives', text: '\n# escape=`\nFROM a\nRUN x `\nFROM b\n', refs: ['3 from a', '5 from b'] },
  {
    title: 'syntax and escape directives, any case, any order',
    text: '#Syntax=docker/dockerfile:1\n # ESCAPE = ` \nFROM a\nRUN x `\nFROM hidden\n',
    refs: ['3 from a'],
  },
  // ARG before FROM
  { title: 'an ARG default', text: 'ARG IMG=alpine:3\nFROM $IMG\n', refs: ['2 from alpine:3'] },
  {
    title: 'a build arg overrides the default',
    text: 'ARG IMG=alpine:3\nFROM ${IMG}\n',
    buildArgs: { IMG: 'debian:12' },
    refs: ['2 from debian:12'],
  },
  {
    title: '${X:-y} on an empty and a set value',
    text: 'ARG E=\nARG S=alpine\nFROM ${E:-busybox}\nFROM ${S:-busybox}\n',
    refs: ['3 from busybox', '4 from alpine'],
  },
  {
    title: '${X:+y} on a set and an empty value',
    text: 'ARG S=1\nARG E=\nFROM busybox${S:+:1.36}\nFROM busybox${E:+:1.36}\n',
    refs: ['3 from busybox:1.36', '4 from busybox'],
  },
  { title: 'an undeclared variable is a problem', text: 'FROM $NOPE\n', refs: [], problems: [1] },
  {
    title: 'an ARG without default or build arg is a problem, even with :-',
    text: 'ARG X\nFROM $X\nFROM ${X:-alpine}\n',
    refs: [],
    problems: [2, 3],
  },
  { title: 'an ARG without default takes the build arg', text: 'ARG X\nFROM $X\n', buildArgs: { X: 'alpine' }, refs: ['2 from alpine'] },
  {
    title: 'quoted defaults lose their quotes',
    text: 'ARG A="alpine:3"\nARG B=\'debian\'\nFROM $A\nFROM $B\n',
    refs: ['3 from alpine:3', '4 from debian'],
  },
  {
    title: 'a default with a space or a partial quote is unusable',
    text: 'ARG A="al pine"\nARG B=al"pine"\nFROM $A\nFROM $B\n',
    refs: [],
    problems: [3, 4],
  },
  {
    title: 'ARG A=$B sees the effective value of B',
    text: 'ARG B=alpine\nARG A=$B:3\nFROM $A\n',
    buildArgs: { B: 'debian' },
    refs: ['3 from debian:3'],
  },
  { title: 'pairs on one ARG line do not see each other', text: 'ARG B=alpine A=$B\nFROM $A\n', refs: [], problems: [2] },
  { title: 'an ARG after the first FROM does not count for FROM', text: 'FROM a\nARG X=b\nFROM $X\n', refs: ['1 from a'], problems: [3] },
  {
    title: 'an ARG name the engine would expand is refused',
    text: 'ARG IMG=alpine\nARG N=IMG\nARG $N=alice/secret\nFROM $IMG\n',
    refs: ['4 from alpine'],
    problems: [3],
  },
  {
    title: 'a build arg value outside the safe set is refused',
    text: 'ARG IMG\nFROM $IMG\n',
    buildArgs: { IMG: 'alpine latest' },
    refs: [],
    problems: [2],
  },
  { title: 'a base expanding to nothing is a problem', text: 'ARG E=\nFROM $E\n', refs: [], problems: [2] },
  {
    title: 'builtin proxy args are not usable undeclared',
    text: 'FROM $HTTP_PROXY\n',
    buildArgs: { HTTP_PROXY: 'alice/img' },
    refs: [],
    problems: [1],
  },
  // Stages
  {
    title: 'stage names, indexes and any case name earlier stages',
    text: 'FROM golang:1 AS Build\nFROM build\nCOPY --from=build /a /a\nCOPY --from=0 /b /b\nCOPY --from=BUILD /c /c\nCOPY --from=+0 /d /d\n',
    refs: ['1 from golang:1'],
  },
  {
    title: 'the current stage is not yet a stage: its name is an image',
    text: 'FROM a AS build\nCOPY --from=build / /\n',
    refs: ['1 from a', '2 copy-from build'],
  },
  {
    title: 'a stage index out of range is a problem',
    text: 'FROM a\nCOPY --from=1 / /\nCOPY --from=-1 / /\n',
    refs: ['1 from a'],
    problems: [2, 3],
  },
  {
    title: 'an index too big for int64 is a name, hence an image',
    text: 'FROM a\nCOPY --from=99999999999999999999 / /\n',
    refs: ['1 from a', '2 copy-from 99999999999999999999'],
  },
  { title: 'FROM 0 is an image, scratch is nothing', text: 'FROM scratch\nFROM 0\n', refs: ['2 from 0'] },
  { title: 'an invalid stage name is a problem', text: 'FROM a AS 1st\nFROM b AS x y\n', refs: [], problems: [1, 2] },
  // COPY --from and RUN --mount flag forms
  {
    title: 'COPY and ADD --from another image',
    text: 'FROM a\nCOPY --from=alice-image / /\nADD --from=bob/img:2 / /\n',
    refs: ['1 from a', '2 copy-from alice-image', '3 copy-from bob/img:2'],
  },
  {
    title: 'quotes and backslashes inside a flag are processed',
    text: 'FROM a\nCOPY --from="alice/img" / /\nCOPY --from=\'al\'"ice" / /\nCOPY --fr\\om=bob / /\n',
    refs: ['1 from a', '2 copy-from alice/img', '3 copy-from alice', '4 copy-from bob'],
  },
  { title: 'a quoted first word is no flag', text: 'FROM a\nCOPY "--from=alice" / /\n', refs: ['1 from a'] },
  {
    title: '--from value (no =) is refused by the 20.10 engine',
    text: 'FROM a\nCOPY --from alice / /\nCOPY --from "alice" / /\n',
    refs: ['1 from a'],
    problems: [2, 3],
  },
  { title: '-- ends the flags', text: 'FROM a\nCOPY -- --from=alice / /\n', refs: ['1 from a'] },
  { title: 'an empty --from is no --from', text: 'FROM a\nCOPY --from= / /\n', refs: ['1 from a'] },
  {
    title: 'a variable or odd character in --from is refused',
    text: 'FROM a\nCOPY --from=$IMG / /\nCOPY --from=al%ce / /\n',
    refs: ['1 from a'],
    problems: [2, 3],
  },
  {
    title: 'the flag scanner splits at the byte 0x85 inside ą (C4 85)',
    text: 'FROM a\nCOPY --chown=1ą--from=alice / /\n',
    refs: ['1 from a', '2 copy-from alice'],
    problems: [],
  },
  {
    title: 'RUN --mount from= (any key case), stages excepted',
    text: 'FROM a AS s\nFROM b\nRUN --mount=type=bind,from=img,target=/x --mount=FROM=s,target=/y --mount=type=cache,target=/c true\n',
    refs: ['1 from a', '2 from b', '3 mount-from img'],
  },
  { title: 'FROM --platform', text: 'FROM --platform=linux/amd64 x\n', refs: ['1 from x'] },
  // ONBUILD
  {
    title: 'ONBUILD COPY --from and RUN --mount are listed, stage names unknown there',
    text: 'FROM a AS build\nFROM b\nONBUILD COPY --from=build / /\nONBUILD RUN --mount=from=img,target=/x true\nONBUILD COPY --from=0 / /\n',
    refs: ['1 from a', '2 from b', '3 copy-from build onbuild', '4 mount-from img onbuild'],
  },
  {
    title: 'an ONBUILD trigger is re-read with the default escape',
    text: '# escape=`\nFROM a\nONBUILD COPY --from=al\\\n',
    refs: ['2 from a', '3 copy-from al onbuild'],
  },
  {
    title: 'ONBUILD FROM, ONBUILD ONBUILD and ONBUILD MAINTAINER are refused',
    text: 'FROM a\nONBUILD FROM b\nONBUILD ONBUILD COPY --from=c / /\nONBUILD MAINTAINER me\n',
    refs: ['1 from a'],
    problems: [2, 3, 4],
  },
  // Whole-file and odd input
  {
    title: 'quotes, backslash and backtick in FROM',
    text: 'FROM "alpine"\nFROM al\\pine\nFROM `alpine`\nFROM al$@pine\n',
    refs: [],
    problems: [1, 2, 3, 4],
  },
  { title: 'no FROM at all', text: 'ARG A=1\nRUN true\n', refs: [], problems: [0] },
  {
    title: 'an instruction before the first FROM is ignored (the engine refuses the file)',
    text: 'COPY --from=alice / /\nFROM a\n',
    refs: ['2 from a'],
  },
  { title: 'lossily decoded bytes are refused', text: 'FROM a\nCOPY --chown=1\uFFFD--from=x / /\n', refs: ['1 from a'], problems: [2] },
  {
    title: 'an instruction word that is not ASCII is refused (Go lowers İ to i)',
    text: 'FROM a\nONBUİLD COPY --from=x / /\n',
    refs: ['1 from a'],
    problems: [2],
  },
];

for (const row of rows) {
  test(`readDockerfile: ${row.title}`, (t) => {
    const reading = readDockerfile(row.text, row.buildArgs ?? {});
    t.deepEqual(refsOf(reading), row.refs);
    t.deepEqual(problemLines(reading), row.problems ?? [], JSON.stringify(reading.problems));
  });
}

test('stages name their bases so the final one can be followed', (t) => {
  const reading = readDockerfile('FROM golang:1 AS build\nFROM scratch AS empty\nFROM build\nFROM "x"\n', {});
  t.deepEqual(reading.stages, [
    { line: 1, name: 'build', base: { image: 'golang:1' } },
    { line: 2, name: 'empty', base: 'scratch' },
    { line: 3, name: null, base: { stage: 0 } },
    { line: 4, name: null, base: null },
  ]);
});

test('readTrigger: a base image trigger runs in this build, among the stages so far', (t) => {
  t.deepEqual(refsOf(readTrigger('COPY --from=build / /', ['build'], 1)), []);
  t.deepEqual(refsOf(readTrigger('COPY --from=Alice / /', ['build'], 1)), ['1 copy-from Alice']);
  t.deepEqual(refsOf(readTrigger('ONBUILD COPY --from=build / /', ['build'], 1)), ['1 copy-from build onbuild']);
  t.deepEqual(refsOf(readTrigger('MAINTAINER me', [], 0)), []);
  t.deepEqual(problemLines(readTrigger('COPY --from=1 / /', ['a'], 1)), [1]);
  t.deepEqual(problemLines(readTrigger('FROM alice/img', [], 0)), [1]);
  t.deepEqual(problemLines(readTrigger('RUN a\nRUN b', [], 0)), [1], 'more than one instruction');
  t.deepEqual(problemLines(readTrigger('# just a comment', [], 0)), [1], 'no instruction');
  t.deepEqual(refsOf(readTrigger('# escape=`\nCOPY --from=al`\nice / /', [], 0)), ['2 copy-from alice'], 'a trigger is a whole Dockerfile');
});

const SAFE = /^[A-Za-z0-9._:/@-]+$/;
const lineCount = (text: string) => text.split('\n').length;
const arbitraryText = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: fc.constantFrom(...'FROM COPY --from=$ {}:-+"\'\\`#\n\r\t\u0085\u00a0ąAS arg=x0'.split('')) }),
);

test('never throws, lines stay in the file and names stay in the safe set, on arbitrary text', (t) => {
  fc.assert(
    fc.property(arbitraryText, fc.dictionary(fc.constantFrom('A', 'IMG', 'X'), fc.string()), (text, buildArgs) => {
      for (const reading of [readDockerfile(text, buildArgs), readTrigger(text, ['build'], 1)]) {
        for (const ref of reading.refs) if (ref.line < 1 || ref.line > lineCount(text) || !SAFE.test(ref.name)) return false;
        for (const problem of reading.problems) if (problem.line < 0 || problem.line > lineCount(text)) return false;
      }
      return true;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

const name = fc.constantFrom(
  'alpine',
  'alice/img:1',
  'build',
  'Build',
  '0',
  '1',
  '$IMG',
  '${IMG:-busybox}',
  '${NOPE}',
  'scratch',
  '"q"',
  'a\\b',
  '',
);
const instruction = fc.oneof(
  name.map((n) => [`FROM ${n}`]),
  fc.tuple(name, fc.constantFrom('build', 'other')).map(([n, s]) => [`FROM ${n} AS ${s}`]),
  name.map((n) => [`COPY --from=${n} / /`]),
  name.map((n) => [`RUN --mount=type=bind,from=${n},target=/x \\`, '  true']),
  name.map((n) => [`ONBUILD COPY --from=${n} / /`]),
  fc.constantFrom(['ARG IMG=debian'], ['ARG IMG'], ['RUN echo \\', '  FROM hidden'], ['']),
);

test('comment lines between instructions shift lines but keep the same references', (t) => {
  fc.assert(
    fc.property(
      fc.array(instruction, { maxLength: 12 }),
      fc.array(fc.nat({ max: 3 }), { maxLength: 12 }),
      (instructions, commentCounts) => {
        const plain: string[] = [];
        const commented: string[] = [];
        const shiftOf = new Map<number, number>();
        instructions.forEach((lines, index) => {
          commented.push(...Array.from({ length: commentCounts[index] ?? 0 }, () => '  # a comment'));
          shiftOf.set(plain.length + 1, commented.length - plain.length);
          plain.push(...lines);
          commented.push(...lines);
        });
        const before = readDockerfile(['FROM base', ...plain].join('\n'), {});
        const after = readDockerfile(['FROM base', ...commented].join('\n'), {});
        const shifted = before.refs.map((r) => ({ ...r, line: r.line === 1 ? 1 : r.line + (shiftOf.get(r.line - 1) ?? NaN) }));
        return JSON.stringify(shifted) === JSON.stringify(after.refs) && before.problems.length === after.problems.length;
      },
    ),
    { numRuns: 500 },
  );
  t.pass();
});
