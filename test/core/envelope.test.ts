// Job ids read from user files (job envelopes, requests) are whole numbers from 1 to 2^31-1.
import test from 'ava';
import fc from 'fast-check';
import {
  decodeEnvelope,
  decodeRequest,
  encodeEnvelope,
  encodeRequest,
  isJobId,
  jobIdProblem,
  MAX_JOB_ID,
} from '../../src/core/job/envelope.js';

const envelope = (id: unknown) => JSON.stringify({ id, submitted_at: 1, source: 'x.yaml', manifest: 'image: a\n' });

test('job ids: 1 to 2^31-1', (t) => {
  t.is(MAX_JOB_ID, 2147483647);
  for (const id of [1, 2, 5000, MAX_JOB_ID]) t.true(isJobId(id), String(id));
  for (const id of [0, -1, 1.5, MAX_JOB_ID + 1, 2 ** 53 - 1, 2 ** 53, Number.NaN, Infinity, '1', null, undefined, [1]])
    t.false(isJobId(id), String(id));
  t.is(jobIdProblem(2 ** 53), 'job id 9007199254740992 is not a whole number from 1 to 2147483647');
  t.is(jobIdProblem('7'), 'job id "7" is not a whole number from 1 to 2147483647');
  t.is(jobIdProblem(undefined), 'job id undefined is not a whole number from 1 to 2147483647');
});

test('an envelope round-trips with a good id', (t) => {
  const job = { id: MAX_JOB_ID, submitted_at: 5, source: 'x.yaml', manifest: 'image: a\n' };
  t.deepEqual(decodeEnvelope(encodeEnvelope(job)), job);
});

const badEnvelopeIds: [unknown, string][] = [
  [0, "the job file's job id 0 is not a whole number from 1 to 2147483647"],
  [-3, "the job file's job id -3 is not"],
  [1.5, "the job file's job id 1.5 is not"],
  [2 ** 31, "the job file's job id 2147483648 is not"],
  [9007199254740991, "the job file's job id 9007199254740991 is not"],
  [9007199254740992, "the job file's job id 9007199254740992 is not"],
  ['12', 'the job file\'s job id "12" is not'],
  [null, "the job file's job id null is not"],
];
for (const [id, message] of badEnvelopeIds) {
  test(`an envelope with id ${JSON.stringify(id)} is refused`, (t) => {
    const result = decodeEnvelope(envelope(id));
    t.true('error' in result && result.error.startsWith(message), JSON.stringify(result));
  });
}

test('an envelope whose id was written past 2^53 (JSON rounds it) is refused', (t) => {
  const result = decodeEnvelope('{"id":9007199254740993,"submitted_at":1,"source":"x","manifest":"image: a"}');
  t.true('error' in result && result.error.includes('9007199254740992 is not a whole number'), JSON.stringify(result));
});

test('an envelope without an id is not a job file', (t) => {
  const result = decodeEnvelope(JSON.stringify({ submitted_at: 1, manifest: 'image: a\n' }));
  t.deepEqual(result, { error: 'not a dopq job file (use `dopq push FILE` to submit a manifest)' });
});

test('requests: job ids round-trip; every id is checked', (t) => {
  t.deepEqual(decodeRequest(encodeRequest({ op: 'rm', ids: [1, 7, MAX_JOB_ID], at: 3 })), { op: 'rm', ids: [1, 7, MAX_JOB_ID], at: 3 });
  t.deepEqual(decodeRequest(encodeRequest({ op: 'hold', ids: [], at: 3 })), { op: 'hold', ids: [], at: 3 });
  const refused: [unknown, string][] = [
    [[1, 0], 'not a dopq request (op "rm": job id 0 is not a whole number from 1 to 2147483647)'],
    [[9007199254740992], 'not a dopq request (op "rm": job id 9007199254740992 is not a whole number from 1 to 2147483647)'],
    [[2, -1, 3], 'not a dopq request (op "rm": job id -1 is not'],
    [[2.5], 'not a dopq request (op "rm": job id 2.5 is not'],
    [['4'], 'not a dopq request (op "rm": job id "4" is not'],
    ['4', 'not a dopq request (op "rm" without a list of job ids)'],
    [undefined, 'not a dopq request (op "rm" without a list of job ids)'],
  ];
  for (const [ids, message] of refused) {
    const result = decodeRequest(JSON.stringify({ op: 'rm', ids, at: 1 }));
    t.true('error' in result && result.error.startsWith(message), `${JSON.stringify(ids)}: ${JSON.stringify(result)}`);
  }
});

test('property: decoded envelopes and requests only ever carry ids from 1 to 2^31-1', (t) => {
  const id = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, 1, MAX_JOB_ID, MAX_JOB_ID + 1, 2 ** 53 - 1, 2 ** 53), fc.jsonValue());
  fc.assert(
    fc.property(id, fc.array(id, { maxLength: 4 }), fc.constantFrom('rm', 'hold', 'release', 'top'), (one, many, op) => {
      const job = decodeEnvelope(envelope(one));
      const request = decodeRequest(JSON.stringify({ op, ids: many, at: 1 }));
      const jobOk = 'error' in job ? !isJobId(one) : isJobId(job.id);
      const requestOk = 'error' in request ? !many.every(isJobId) : 'ids' in request && request.ids.every(isJobId);
      return jobOk && requestOk;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});
