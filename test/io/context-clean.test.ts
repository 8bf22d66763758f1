import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import tar from 'tar-stream';
import { cleanBuildContext, contextNameProblem, ContextRefused } from '../../src/io/docker/context-clean.js';
import { readTarEntry } from '../../src/io/files/tar-entry.js';

type Entry = { name: string; body?: string; type?: 'file' | 'directory' | 'symlink' | 'link'; linkname?: string; mode?: number };

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries)
    pack.entry(
      { name: e.name, type: e.type ?? 'file', mode: e.mode ?? 0o644, ...(e.linkname ? { linkname: e.linkname } : {}) },
      e.body ?? '',
    );
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function clean(entries: Entry[]): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ctx-clean-'));
  const src = path.join(dir, 'src.tar');
  const dst = path.join(dir, 'dst.tar');
  await writeFile(src, await tarOf(entries));
  try {
    await cleanBuildContext(src, dst);
    return dst;
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

test('names push writes are clean; anything the engine would rewrite is not', (t) => {
  for (const name of ['Dockerfile', 'src/a.py', 'a/b/c']) t.is(contextNameProblem(name), undefined, name);
  for (const name of ['', '/Dockerfile', './Dockerfile', 'x/../Dockerfile', 'a//b', 'a/.', '..', 'a\nb'])
    t.truthy(contextNameProblem(name), JSON.stringify(name));
});

test('a context push could have packed is copied whole: files, folders, executable bits', async (t) => {
  const dst = await clean([
    { name: 'src/', type: 'directory' },
    { name: 'src/run.sh', body: 'echo hi\n', mode: 0o755 },
    { name: 'Dockerfile', body: 'FROM x\n' },
  ]);
  t.is(await readTarEntry(dst, 'Dockerfile', 1024), 'FROM x\n');
  t.is(await readTarEntry(dst, 'src/run.sh', 1024), 'echo hi\n');
  t.true((await readFile(dst)).length > 0);
  await rm(path.dirname(dst), { recursive: true, force: true });
});

const refusals: [string, Entry[], RegExp][] = [
  [
    'a symlink named Dockerfile',
    [
      { name: 'evil', body: 'FROM y\n' },
      { name: 'Dockerfile', type: 'symlink', linkname: 'evil' },
    ],
    /"Dockerfile" is a symlink/,
  ],
  [
    'a hard link',
    [
      { name: 'evil', body: 'FROM y\n' },
      { name: 'Dockerfile', type: 'link', linkname: 'evil' },
    ],
    /is a link/,
  ],
  [
    'a second Dockerfile',
    [
      { name: 'Dockerfile', body: 'FROM x\n' },
      { name: 'Dockerfile', body: 'FROM y\n' },
    ],
    /appears twice/,
  ],
  [
    'x/../Dockerfile',
    [
      { name: 'Dockerfile', body: 'FROM x\n' },
      { name: 'x/../Dockerfile', body: 'FROM y\n' },
    ],
    /not a clean name/,
  ],
  ['an absolute name', [{ name: '/etc/passwd', body: 'x' }], /not a relative name/],
];
for (const [what, entries, reason] of refusals) {
  test(`refused: ${what}`, async (t) => {
    const error = await t.throwsAsync(clean(entries), { instanceOf: ContextRefused });
    t.regex(error?.message ?? '', reason);
  });
}

test('a file that is not a tar is refused, not thrown through', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'ctx-clean-'));
  await writeFile(path.join(dir, 'src.tar'), 'not a tar at all, but long enough to look like a header? no.'.repeat(20));
  await t.throwsAsync(cleanBuildContext(path.join(dir, 'src.tar'), path.join(dir, 'dst.tar')), { instanceOf: ContextRefused });
  await rm(dir, { recursive: true, force: true });
});
