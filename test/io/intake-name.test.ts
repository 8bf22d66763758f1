// The intake file name carries the job id: `<id>.job`, 1 to 2^31-1, as push writes it.
import test from 'ava';
import { MAX_JOB_ID } from '../../src/core/job/envelope.js';
import { jobIdOfIntakeName } from '../../src/io/spool/spool.js';

test('job ids from intake file names', (t) => {
  t.is(jobIdOfIntakeName('1.job'), 1);
  t.is(jobIdOfIntakeName('5000.job'), 5000);
  t.is(jobIdOfIntakeName(`${MAX_JOB_ID}.job`), MAX_JOB_ID);
  for (const name of [
    '0.job',
    '007.job', // one id, one name: push never pads
    `${MAX_JOB_ID + 1}.job`,
    '9007199254740991.job',
    '9007199254740992.job',
    '99999999999999999999999.job',
    '-1.job',
    '1.5.job',
    '1e3.job',
    ' 1.job',
    '1.job.tmp',
    '.1.job',
    '1.ctx',
    'x.job',
    '.job',
  ]) {
    t.is(jobIdOfIntakeName(name), undefined, name);
  }
});
