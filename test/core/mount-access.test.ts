import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import {
  checkPath,
  classify,
  describeDenial,
  helperArgs,
  HELPER_SCRIPT,
  isPermissionDenial,
  mountDenialMessage,
  parseHelperOutput,
  prefixes,
  type AccessProbe,
  type Denial,
} from '../../src/core/job/mount-access.js';

const bob = { user: 'dopq-bob', uid: 1002, gid: 1002, groups: [1002, 1003, 1002] };

test('paths are normalized without a trailing slash; prefixes are the folders on the way and the path', (t) => {
  for (const [input, want] of [
    ['/a/b/', '/a/b'],
    ['/a//b/./c', '/a/b/c'],
    ['/', '/'],
    ['/a/../b', '/b'],
  ] as const)
    t.is(checkPath(input), want);
  t.deepEqual(prefixes('/R/alice-private/sub'), ['/R', '/R/alice-private', '/R/alice-private/sub']);
  t.deepEqual(prefixes('/'), []);
});

test("helper args: the user's ids and deduplicated groups, the fixed script, then mode/path pairs", (t) => {
  const args = helperArgs(bob, [
    { path: '/R/x/', write: false },
    { path: '/R/y', write: true },
  ]);
  t.deepEqual(args, [
    '--reuid=1002',
    '--regid=1002',
    '--groups=1002,1003',
    '--',
    '/bin/sh',
    '-c',
    HELPER_SCRIPT,
    'sh',
    'ro',
    '/R/x',
    'rw',
    '/R/y',
  ]);
  t.is(helperArgs({ ...bob, groups: [] }, [])[2], '--clear-groups');
  t.throws(() => helperArgs({ ...bob, uid: -1 }, []), { message: /uid must be a non-negative integer/ });
  t.throws(() => helperArgs({ ...bob, groups: [1.5] }, []), { message: /group id/ });
});

test('property: no path ever reaches the script text; each goes through as one argument', (t) => {
  fc.assert(
    fc.property(
      fc.array(
        fc.string({ minLength: 1 }).map((s) => `/${s}`),
        { maxLength: 5 },
      ),
      fc.boolean(),
      (paths, write) => {
        const args = helperArgs(
          bob,
          paths.map((p) => ({ path: p, write })),
        );
        t.is(args[6], HELPER_SCRIPT);
        t.deepEqual(
          args.slice(8),
          paths.flatMap((p) => [write ? 'rw' : 'ro', checkPath(p)]),
        );
      },
    ),
  );
  t.notRegex(HELPER_SCRIPT, /\$\{/, 'no template interpolation slipped into the script');
});

test('helper output: each answer becomes a denial naming the folder at component k', (t) => {
  const checks = ['/R/alice-private/sub', '/R/a/f', '/R/d', '/R/w', '/R/link/x', '/R/gone/y', '/R/q', '/top'].map((p) => ({
    path: p,
    write: false,
  }));
  const out = '0 search 2\n1 read\n2 enter\n3 write\n4 link 2\n5 missing 2\n6 ok\n7 search 0\n';
  t.deepEqual(parseHelperOutput(out, checks), [
    { kind: 'search', folder: '/R/alice-private' },
    { kind: 'read' },
    { kind: 'enter' },
    { kind: 'write' },
    { kind: 'link', at: '/R/link' },
    { kind: 'missing', at: '/R/gone' },
    undefined,
    { kind: 'search', folder: '/' },
  ]);
});

test('helper output that is short, out of order, unknown or points past the path is refused', (t) => {
  const checks = [
    { path: '/R/x', write: false },
    { path: '/R/y', write: false },
  ];
  for (const out of ['0 ok\n', '1 ok\n0 ok\n', '0 ok\n1 maybe\n', '0 ok\n1 search 9\n', '0 ok\n1 ok\n2 ok\n', 'setpriv: oops\n1 ok\n']) {
    t.throws(() => parseHelperOutput(out, checks), undefined, JSON.stringify(out));
  }
});

test("messages say the path and why, in the user's name", (t) => {
  const say = (d: Denial, real?: string) => mountDenialMessage('/R/alice-private/sub', real, 'dopq-bob', d);
  t.is(
    say({ kind: 'search', folder: '/R/alice-private' }),
    'mount source /R/alice-private/sub: dopq-bob cannot pass through /R/alice-private (no search permission)',
  );
  t.is(say({ kind: 'write' }), 'mount source /R/alice-private/sub: dopq-bob cannot write it (read-write mount; add :ro?)');
  t.is(say({ kind: 'read' }), 'mount source /R/alice-private/sub: dopq-bob cannot read it');
  t.is(
    say({ kind: 'read' }, '/R/alice-private/sub/'),
    'mount source /R/alice-private/sub: dopq-bob cannot read it',
    'same path: no "resolves to"',
  );
  t.is(
    mountDenialMessage('/R/link', '/R/p/s', 'dopq-bob', { kind: 'enter' }),
    'mount source /R/link (resolves to /R/p/s): dopq-bob cannot enter it (no search permission on the folder)',
  );
  for (const d of [{ kind: 'unreachable' }, { kind: 'link', at: '/R/l' }, { kind: 'missing', at: '/R/m' }] as Denial[])
    t.regex(describeDenial('u', d), /\S/);
  t.false(isPermissionDenial({ kind: 'missing', at: '/x' }));
  t.true(isPermissionDenial({ kind: 'link', at: '/x' }));
});

// A small file system as one user sees it: per node its kind and what the user may do there.
type Node = { kind: 'dir' | 'file'; r: boolean; w: boolean; x: boolean } | { kind: 'link'; target: string };
function fakeProbe(nodes: Record<string, Node>): AccessProbe {
  const root: Node = { kind: 'dir', r: true, w: false, x: true };
  const node = (p: string): Node | undefined => (p === '/' ? root : nodes[p]);
  // The node p leads to, following links, or undefined when missing or not passable.
  const resolve = (p: string, depth = 0): { path: string; node: Node } | undefined => {
    if (depth > 40) return undefined;
    let at = '/';
    const parts = prefixes(p);
    for (const [i, next] of parts.entries()) {
      const here = node(at);
      if (!here || here.kind !== 'dir' || !here.x) return undefined;
      const child = node(path.posix.join(at, path.posix.basename(next)));
      if (!child) return undefined;
      const childPath = path.posix.join(at, path.posix.basename(next));
      if (child.kind === 'link') {
        const rest = path.posix.relative(next, p);
        return resolve(path.posix.resolve(at, child.target, rest || '.'), depth + 1);
      }
      at = childPath;
      if (i === parts.length - 1) return { path: at, node: child };
    }
    return { path: '/', node: root };
  };
  return {
    exists: async (p) => resolve(p) !== undefined,
    isLink: async (p) => node(p)?.kind === 'link',
    isFolder: async (p) => resolve(p)?.node.kind === 'dir',
    may: async (p, what) => {
      const found = resolve(p)?.node;
      return found !== undefined && found.kind !== 'link' && found[what];
    },
    readLink: async (p) => {
      const n = node(p);
      return n?.kind === 'link' ? n.target : undefined;
    },
  };
}

const dir = (r: boolean, w: boolean, x: boolean): Node => ({ kind: 'dir', r, w, x });
const file = (r: boolean, w: boolean): Node => ({ kind: 'file', r, w, x: false });
const tree = fakeProbe({
  '/R': dir(true, false, true),
  '/R/alice-private': dir(false, false, false),
  '/R/alice-private/sub': dir(true, false, true),
  '/R/bob-link': { kind: 'link', target: 'alice-private/sub' },
  '/R/dangling': { kind: 'link', target: '/R/nowhere' },
  '/R/shared': dir(true, false, true),
  '/R/shared/f': file(true, false),
  '/R/shared/secret': file(false, false),
  '/R/noenter': dir(true, false, false),
  '/R/mine': dir(true, true, true),
});

test('classify: the same decisions as the helper script, naming where the user is stopped', async (t) => {
  const cases: [string, boolean, Denial | undefined][] = [
    ['/R/alice-private/sub', false, { kind: 'search', folder: '/R/alice-private' }],
    ['/R/bob-link', false, { kind: 'search', folder: '/R/alice-private' }],
    ['/R/dangling', false, { kind: 'missing', at: '/R/nowhere' }],
    ['/R/nothing/here', false, { kind: 'missing', at: '/R/nothing' }],
    ['/R/shared', true, { kind: 'write' }],
    ['/R/shared', false, undefined],
    ['/R/shared/f', false, undefined],
    ['/R/shared/f/', true, { kind: 'write' }],
    ['/R/shared/secret', false, { kind: 'read' }],
    ['/R/noenter', false, { kind: 'enter' }],
    ['/R/mine', true, undefined],
  ];
  for (const [p, write, want] of cases) t.deepEqual(await classify({ path: p, write }, tree), want, `${p} ${write ? 'rw' : 'ro'}`);
});

test('classify: a link loop or an unreadable link is named as the link', async (t) => {
  const loop = fakeProbe({
    '/R': dir(true, false, true),
    '/R/a': { kind: 'link', target: '/R/b' },
    '/R/b': { kind: 'link', target: '/R/a' },
  });
  t.is((await classify({ path: '/R/a', write: false }, loop))?.kind, 'link');
  const opaque: AccessProbe = { ...tree, readLink: undefined };
  t.deepEqual(await classify({ path: '/R/bob-link', write: false }, opaque), { kind: 'link', at: '/R/bob-link' });
});
