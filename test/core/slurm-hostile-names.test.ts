// Slurm job names are the users' to choose (sbatch -J, or scontrol update on their own job) and
// may hold newlines and `|`: what dopq reads back from Slurm must not let one user's job name
// speak for another user's job.
import test from 'ava';
import type { JobRecord } from '../../src/core/job/job.js';
import { accountingLookups, mirrorSlurm } from '../../src/core/slurm/mirror.js';
import { parseSacct } from '../../src/core/slurm/sacct-text.js';

const now = 1_800_000_000_000;
const s = (ms: number) => String(Math.floor(ms / 1000));

// bob's dopq job 9 ran as Slurm job 77 and failed with 3 while the daemon was away (squeue forgot it).
const bobs: JobRecord = {
  id: 9,
  user: 'dopq-bob',
  uid: 1002,
  name: 'train',
  image: 'busybox',
  gpus_requested: 1,
  gpus: ['vm:0'],
  state: 'running',
  submitted_at: now - 3600_000,
  started_at: now - 3000_000,
  time_limit: 7200,
  slurm_job_id: 77,
};
// alice's own dopq job 12 (Slurm 124), which she renamed while it waited:
// scontrol update JobId=124 JobName=$'y\n77|dopq-9', then cancelled it.
const alices: JobRecord = { ...bobs, id: 12, user: 'dopq-alice', uid: 1001, slurm_job_id: 124 };

// `sacct --allusers -P -n -X -o JobID,JobName,User,State,ExitCode,NodeList,Submit,Start,End -j 77,124`, as Slurm 22.05 prints it.
const SACCT = [
  `77|dopq-9|dopq-bob|FAILED|3:0|vm|${s(now - 3600_000)}|${s(now - 3000_000)}|${s(now - 600_000)}`,
  '124|y',
  `77|dopq-9|dopq-alice|COMPLETED|0:0|vm|${s(now - 3500_000)}|${s(now - 3400_000)}|${s(now - 300_000)}`,
  '',
].join('\n');

test("a job name with a newline cannot write another user's job's outcome into dopq", (t) => {
  const sacct = parseSacct(SACCT);
  const result = mirrorSlurm({
    jobs: [bobs, alices],
    squeue: [],
    sacct,
    comment: 'dopq:abc',
    nameOf: (id) => `dopq-${id}`,
    termLead: 70,
    now,
  });
  const bob = result.updates.find((job) => job.id === 9);
  t.is(bob?.state, 'failed', JSON.stringify(bob));
  t.is(bob?.exit_code, 3);
});

test("another user's Slurm job named dopq-ID, even with dopq's comment, does not hide a written-ahead submission from sacct", (t) => {
  // bob's job 9: written ahead, sbatch ran, the daemon died; his Slurm job 77 ended and left squeue.
  const written: JobRecord = { ...bobs, state: 'queued', gpus: [], slurm_job_id: undefined, slurm_submit_at: now - 1800_000 };
  delete written.started_at;
  const impostor = {
    job_id: 130,
    name: 'dopq-9',
    user: 'dopq-alice',
    state: 'PENDING',
    reason: 'Priority',
    priority: 1,
    node: null,
    gpus: [],
    submit_time: now - 1000,
    start_time: null,
    end_time: null,
    exit: null,
    comment: 'dopq:abc',
  };
  const lookups = accountingLookups({ jobs: [written], squeue: [impostor], comment: 'dopq:abc', nameOf: (id) => `dopq-${id}` });
  t.deepEqual(lookups.names, ['dopq-9'], 'sacct is asked for bob`s submission by name');
  const sacct = parseSacct(`77|dopq-9|dopq-bob|COMPLETED|0:0|vm|${s(now - 1790_000)}|${s(now - 1780_000)}|${s(now - 600_000)}\n`);
  const result = mirrorSlurm({
    jobs: [written],
    squeue: [impostor],
    sacct,
    comment: 'dopq:abc',
    nameOf: (id) => `dopq-${id}`,
    termLead: 70,
    now,
  });
  t.deepEqual(result.resubmit, [], 'not submitted again');
  t.is(result.updates[0]?.slurm_job_id, 77);
  t.is(result.updates[0]?.state, 'done');
  t.deepEqual(result.cancel, [130], "alice's look-alike carrying dopq's mark is cancelled");
});
