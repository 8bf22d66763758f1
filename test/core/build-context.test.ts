import test from 'ava';
import { planContext, type ContextEntry } from '../../src/core/job/build-context.js';

const file = (path: string, size = 10): ContextEntry => ({ path, kind: 'file', size });
const dir = (path: string): ContextEntry => ({ path, kind: 'dir', size: 0 });
const limits = { bytes: 1000, files: 10 };

test('a plain context is packed whole', (t) => {
  const plan = planContext([file('Dockerfile'), dir('src'), file('src/a.py', 100)], undefined, 'Dockerfile', limits);
  t.true(plan.ok);
  if (plan.ok) t.deepEqual([plan.files.map((f) => f.path), plan.bytes], [['Dockerfile', 'src', 'src/a.py'], 110]);
});

test('.dockerignore drops paths before the checks, as Docker does, but never the Dockerfile', (t) => {
  const entries = [
    file('Dockerfile'),
    dir('data'),
    file('data/huge.bin', 10_000),
    { path: 'data/link', kind: 'symlink' as const, size: 0 },
    file('keep.txt'),
    file('x.log'),
  ];
  const plan = planContext(entries, 'data\n*.log\nDockerfile\n', 'Dockerfile', limits);
  t.true(plan.ok);
  if (plan.ok)
    t.deepEqual(
      plan.files.map((f) => f.path),
      ['Dockerfile', 'keep.txt'],
    );
  const negated = planContext([file('Dockerfile'), file('a.log'), file('b.log')], '*.log\n!b.log\n', 'Dockerfile', limits);
  if (negated.ok)
    t.deepEqual(
      negated.files.map((f) => f.path),
      ['Dockerfile', 'b.log'],
    );
  else t.fail(negated.problems.join());
});

test('links, special files, a missing Dockerfile and the limits are refused, each by name', (t) => {
  const plan = planContext(
    [file('src/main.py', 600), file('big', 600), { path: 'ln', kind: 'symlink', size: 0 }, { path: 'fifo', kind: 'other', size: 0 }],
    undefined,
    'docker/Dockerfile',
    { bytes: 1000, files: 1 },
  );
  t.false(plan.ok);
  if (!plan.ok) {
    const text = plan.problems.join('\n');
    t.regex(text, /^ln: is a symbolic link/m);
    t.regex(text, /^fifo: is not a plain file or folder/m);
    t.regex(text, /^docker\/Dockerfile: no such file in the context/m);
    t.regex(text, /the context has 2 files; the limit is 1 \(builds\.context_files/);
    t.regex(text, /the context is 1200 bytes; the limit is 1000 \(builds\.context_size/);
  }
});
