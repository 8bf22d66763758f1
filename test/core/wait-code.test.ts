// What `dopq wait` and `log -f` exit with for each outcome (dopq(1), EXIT STATUS).
import test from 'ava';
import { combinedWaitCode, WaitCode, waitCode } from '../../src/core/job/wait-code.js';

test("a job's own exit code; 128+signal when killed; dopq's codes when it never ran to an exit", (t) => {
  t.is(waitCode({ state: 'done', reason: 'exited', exit_code: 0 }), 0);
  t.is(waitCode({ state: 'failed', reason: 'exited', exit_code: 3 }), 3);
  t.is(waitCode({ state: 'failed', reason: 'exited', exit_code: 143 }), 143, 'killed by SIGTERM, as Docker reports it');
  t.is(waitCode({ state: 'failed', reason: 'oom-killed', exit_code: 137 }), 137);
  t.is(waitCode({ state: 'failed', reason: 'oom-killed', exit_code: null }), 137);
  t.is(waitCode({ state: 'failed', reason: 'time-limit', exit_code: 0 }), 143, 'stopped at its limit, though it exited 0');
  t.is(waitCode({ state: 'failed', reason: 'time-limit', exit_code: 137 }), 137);
  t.is(waitCode({ state: 'cancelled', reason: 'cancelled', exit_code: 143 }), WaitCode.cancelled);
  t.is(waitCode({ state: 'rejected', reason: 'rejected', exit_code: null }), WaitCode.rejected);
  t.is(waitCode({ state: 'rejected', reason: 'mount-denied', exit_code: null }), WaitCode.rejected);
  t.is(waitCode({ state: 'failed', reason: 'start-failed', exit_code: null }), WaitCode.failedToStart);
  t.is(waitCode({ state: 'failed', reason: 'build-failed', exit_code: 1 }), WaitCode.failedToStart);
  t.is(waitCode({ state: 'failed', reason: 'lost', exit_code: null }), WaitCode.failedToStart);
  for (const state of ['queued', 'building', 'running'] as const) t.is(waitCode({ state, exit_code: null }), undefined);
});

test("dopq's own codes are distinct, above every signal's status and outside sysexits", (t) => {
  const codes = Object.values(WaitCode);
  t.is(new Set(codes).size, codes.length);
  for (const code of codes) {
    t.true(code > 128 + 64 && code < 256);
  }
});

test('several jobs: 0 when all succeeded, else the highest code', (t) => {
  t.is(combinedWaitCode([]), 0);
  t.is(combinedWaitCode([0, 0]), 0);
  t.is(combinedWaitCode([0, 3, 1]), 3);
  t.is(combinedWaitCode([3, WaitCode.cancelled]), WaitCode.cancelled);
});
