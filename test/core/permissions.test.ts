import test from 'ava';
import { isAdmin, mayActOnJob, type JobAction } from '../../src/core/permissions.js';

const alice = { uid: 1001, user: 'alice', groups: ['alice', 'ml'] };
const bob = { uid: 1002, user: 'bob', groups: ['bob'] };
const root = { uid: 0, user: 'root', groups: ['root'] };
const controls: JobAction[] = ['rm', 'hold', 'release', 'top'];

test('owner, root, listed users and %groups may control; others may not', (t) => {
  const job = { uid: 1001 };
  for (const action of controls) {
    t.true(mayActOnJob(action, job, alice, []), action);
    t.false(mayActOnJob(action, job, bob, []), action);
    t.true(mayActOnJob(action, job, root, []), action);
    t.true(mayActOnJob(action, job, bob, ['bob']), `${action}: a non-root admin by name`);
    t.true(mayActOnJob(action, { uid: 1002 }, alice, ['%ml']), `${action}: a non-root admin by group`);
  }
  t.false(isAdmin(bob, ['%ml', 'carol']));
});

test('every control command answers a non-root admin the same way: rm as hold and release', (t) => {
  const job = { uid: 1001 };
  const answers = new Set(controls.map((action) => mayActOnJob(action, job, bob, ['bob'])));
  t.deepEqual([...answers], [true]);
});

test('output is read by its owner or root only, never by other admins (logs are 0600)', (t) => {
  const job = { uid: 1001 };
  t.true(mayActOnJob('log', job, alice, []));
  t.true(mayActOnJob('log', job, root, []));
  t.false(mayActOnJob('log', job, bob, ['bob']));
});
