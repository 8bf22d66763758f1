import test from 'ava';
import { ancestorProblem, ancestorsOf, configProblem, entryProblem, type ModeRule } from '../../src/core/config/spool-modes.js';

const drop: ModeRule = { kind: 'dir', mode: 0o1777, why: 'drop' };
const priv: ModeRule = { kind: 'dir', mode: 0o700, why: 'private' };
const shared: ModeRule = { kind: 'dir', mode: 0o755, why: 'read' };
const counter: ModeRule = { kind: 'file', mode: 0o666, why: 'counter' };
const root = [0];

test('spool entries: owner, kind and the write and privacy bits are checked', (t) => {
  const cases: [string, Parameters<typeof entryProblem>[0], ModeRule, RegExp | undefined][] = [
    ['drop folder as laid out', { path: 'i', kind: 'dir', uid: 0, mode: 0o1777 }, drop, undefined],
    ['drop folder without sticky', { path: 'i', kind: 'dir', uid: 0, mode: 0o777 }, drop, /without the sticky bit.*mode 1777/],
    ['drop folder owned by a user', { path: 'i', kind: 'dir', uid: 1000, mode: 0o1777 }, drop, /owned by uid 1000/],
    ['private folder readable by others', { path: 'j', kind: 'dir', uid: 0, mode: 0o750 }, priv, /open to others.*0700/],
    ['private folder stricter is fine', { path: 'j', kind: 'dir', uid: 0, mode: 0o700 }, priv, undefined],
    ['shared folder group-writable', { path: 's', kind: 'dir', uid: 0, mode: 0o775 }, shared, /writable by others/],
    ['shared folder group-writable even with sticky', { path: 's', kind: 'dir', uid: 0, mode: 0o1777 }, shared, /writable by others/],
    ['shared folder stricter is fine', { path: 's', kind: 'dir', uid: 0, mode: 0o711 }, shared, undefined],
    ['a symlink', { path: 'l', kind: 'symlink', uid: 0, mode: 0o777 }, shared, /symbolic link/],
    ['missing', { path: 'm' }, shared, /is missing/],
    ['a file where a folder belongs', { path: 'f', kind: 'file', uid: 0, mode: 0o755 }, shared, /not a folder/],
    ['the counter may be written by all', { path: 'c', kind: 'file', uid: 0, mode: 0o666 }, counter, undefined],
    ['the counter owned by a user', { path: 'c', kind: 'file', uid: 5, mode: 0o666 }, counter, /owned by uid 5/],
  ];
  for (const [name, seen, rule, expected] of cases) {
    const problem = entryProblem(seen, rule, root);
    if (expected === undefined) t.is(problem, undefined, name);
    else t.regex(problem ?? '', expected, name);
  }
});

test('folders above the spool and the config file', (t) => {
  t.is(ancestorProblem({ path: '/tmp', kind: 'dir', uid: 0, mode: 0o1777 }, root), undefined, 'sticky like /tmp');
  t.regex(ancestorProblem({ path: '/srv', kind: 'dir', uid: 0, mode: 0o777 }, root) ?? '', /writable by others/);
  t.regex(ancestorProblem({ path: '/home/a', kind: 'dir', uid: 1000, mode: 0o755 }, root) ?? '', /owned by uid 1000/);
  t.is(ancestorProblem({ path: '/srv', kind: 'dir', uid: 1000, mode: 0o755 }, [0, 1000]), undefined, "the daemon's own user");
  t.is(configProblem({ path: 'c', kind: 'file', uid: 0, mode: 0o644 }, root), undefined);
  t.regex(configProblem({ path: 'c', kind: 'file', uid: 0, mode: 0o664 }, root) ?? '', /writable by others/);
  t.regex(configProblem({ path: 'c', kind: 'file', uid: 7, mode: 0o600 }, root) ?? '', /owned by uid 7/);
  t.deepEqual(ancestorsOf('/a/b/c'), ['/', '/a', '/a/b']);
  t.deepEqual(ancestorsOf('/a'), ['/']);
});
