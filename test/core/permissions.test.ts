import test from 'ava';
import { canControl, isAdmin } from '../../src/core/permissions.js';

const alice = { uid: 1001, user: 'alice', groups: ['alice', 'ml'] };
const bob = { uid: 1002, user: 'bob', groups: ['bob'] };
const root = { uid: 0, user: 'root', groups: ['root'] };

test('owner, root, listed users and %groups may control; others may not', (t) => {
  const job = { uid: 1001 };
  t.true(canControl(job, alice, []));
  t.false(canControl(job, bob, []));
  t.true(canControl(job, root, []));
  t.true(canControl(job, bob, ['bob']));
  t.true(canControl({ uid: 1002 }, alice, ['%ml']));
  t.false(isAdmin(bob, ['%ml', 'carol']));
});
