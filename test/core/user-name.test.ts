// The one user-name pattern every layer uses, and the config's "user or %group" built on it.
import test from 'ava';
import fc from 'fast-check';
import { PRINCIPAL, USER_NAME } from '../../src/core/permissions.js';

const names: [string, boolean][] = [
  ['alice', true],
  ['_svc', true],
  ['1001', true],
  ['a.b-c_d', true],
  ['host$', true], // a machine account
  ['.', false],
  ['..', false],
  ['.hidden', false],
  ['-x', false],
  ['a/b', false],
  ['a$b', false],
  ['', false],
  ['%ml', false],
  ['al ice', false],
];

for (const [name, ok] of names) {
  test(`USER_NAME ${ok ? 'accepts' : 'refuses'} ${JSON.stringify(name)}`, (t) => {
    t.is(USER_NAME.test(name), ok);
  });
}

test('property: a principal is a user name, or % and a group name of the same form', (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 12, unit: fc.constantFrom('a', 'Z', '0', '_', '.', '-', '$', '%', '/', ' ') }), (text) => {
      const asGroup = text.startsWith('%') && USER_NAME.test(text.slice(1));
      return PRINCIPAL.test(text) === (USER_NAME.test(text) || asGroup);
    }),
  );
  t.pass();
});

test('property: no user name is a path step or holds one', (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 8, unit: fc.constantFrom('a', '.', '/', '$') }), (text) => {
      return !USER_NAME.test(text) || (text !== '.' && text !== '..' && !text.includes('/'));
    }),
  );
  t.pass();
});
