// The Slurm backend's pure parts: the sbatch call and its batch script, what the node helper
// takes from Slurm's environment, and a job file checked again against a node's config.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { containerSpec, LABEL_SLURM_JOB } from '../../src/core/job/container-spec.js';
import type { JobRecord, JobSpec } from '../../src/core/job/job.js';
import { parseManifest, recheckManifest } from '../../src/core/job/manifest.js';
import { nodeRunRefusal, recordedSubmission, slurmAllocation, verifiedAllocation } from '../../src/core/slurm/node-job.js';
import { expandIndices, parseShowJob } from '../../src/core/slurm/show-job.js';
import {
  batchScript,
  sbatchArgs,
  sbatchEnvironment,
  shellQuote,
  signalLead,
  slurmFileName,
  slurmMinutes,
} from '../../src/core/slurm/sbatch.js';
import { parseConfig } from '../../src/core/config/config.js';
import { testConfig } from './fixtures.js';

function spec(text: string, config = testConfig()): JobSpec {
  const result = parseManifest(text, config);
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return { id: 17, uid: 1001, user: 'alice', manifest: result.manifest, image: result.manifest.image ?? 'built' };
}

const settings = {
  partition: 'gpu',
  account: 'dopq',
  logFile: '/srv/dopq/spool/logs/17.log',
  configFile: '/etc/dopq/dopq.yaml',
  helper: ['/usr/bin/sudo', '-n', '--', '/usr/local/bin/dopq'],
  termGrace: 60,
};

test('sbatch argv: owner, resources in Slurm units, time limit with a TERM ahead, log, no environment', (t) => {
  const job = spec('image: a\ngpus: 2\ncpus: 2.5\nmemory: 3g\nshm: 512m\ntime_limit: 90m\nenv: {TOKEN: secret}\nname: "x"\n');
  t.deepEqual(sbatchArgs({ id: 17, uid: 1001, gid: 1002, manifest: job.manifest }, settings), [
    '--parsable',
    '--job-name=dopq-17',
    '--uid=1001',
    '--gid=1002',
    '--partition=gpu',
    '--account=dopq',
    '--nodes=1',
    '--ntasks=1',
    '--cpus-per-task=3',
    `--mem=${3 * 1024 + 512}M`,
    '--gres=gpu:2',
    '--time=90',
    '--signal=B:TERM@60',
    '--output=/srv/dopq/spool/logs/17.log',
    '--error=/srv/dopq/spool/logs/17.log',
    '--open-mode=append',
    '--export=NONE',
    '--chdir=/',
  ]);
});

test('sbatch argv: no GPUs means no --gres; requeue: false is --no-requeue; no partition or account when unset', (t) => {
  const job = spec('image: a\ngpus: 0\nrequeue: false\n');
  const args = sbatchArgs({ id: 3, uid: 1001, gid: 1001, manifest: job.manifest }, { ...settings, partition: null, account: undefined });
  t.false(args.some((a) => a.startsWith('--gres')));
  t.true(args.includes('--no-requeue'));
  t.false(args.some((a) => a.startsWith('--partition') || a.startsWith('--account')));
  t.throws(() => sbatchArgs({ id: 3.5, uid: 1001, gid: 1001, manifest: job.manifest }, settings));
  t.throws(() => sbatchArgs({ id: 3, uid: -1, gid: 1001, manifest: job.manifest }, settings));
});

/**
 * The file slurmstepd opens for an --output name (src/slurmd/common/fname.c): a name with a
 * backslash is not expanded, its single backslashes dropped and doubled ones read as one; else
 * `%%` is `%` and any other `%` starts a pattern (%j, %u, %5t...), here a NUL no path holds.
 */
function slurmOpens(name: string): string {
  if (name.includes('\\')) return name.replace(/\\(\\?)/g, '$1');
  return name.replace(/%(%?)/g, (_, percent: string) => (percent ? '%' : '\0'));
}

test("the log's path reaches Slurm as written: % is %% (sbatch expands %j, %u...); with a backslash, each is doubled", (t) => {
  const job = spec('image: a\n');
  const logArgs = (logFile: string) =>
    sbatchArgs({ id: 3, uid: 1001, gid: 1001, manifest: job.manifest }, { ...settings, logFile }).filter((arg) =>
      /^--(output|error)=/.test(arg),
    );
  t.deepEqual(logArgs('/srv/100%j/%u.log'), ['--output=/srv/100%%j/%%u.log', '--error=/srv/100%%j/%%u.log']);
  t.deepEqual(logArgs('/srv/a\\b%j/3.log'), ['--output=/srv/a\\\\b%j/3.log', '--error=/srv/a\\\\b%j/3.log']);
  t.is(slurmFileName('/srv/dopq/spool/logs/17.log'), '/srv/dopq/spool/logs/17.log');
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom(...'%\\/ajux5.'.split('')) }), (name) => slurmOpens(slurmFileName(name)) === name),
    { numRuns: 500 },
  );
});

test('time limits round up to whole minutes; the TERM lead is slurm.term_grace, whole, at least 1 s', (t) => {
  t.is(slurmMinutes(1), 1);
  t.is(slurmMinutes(60), 1);
  t.is(slurmMinutes(61), 2);
  t.is(slurmMinutes(48 * 3600), 2880);
  t.is(signalLead(0), 1);
  t.is(signalLead(2.5), 3);
  t.is(signalLead(60), 60);
});

test('nothing the manifest says reaches the sbatch argv or the script: not its name, command or environment', (t) => {
  const job = spec('image: a\nname: evil.name\ncommand: ["sh", "-c", "rm -rf / ; echo $(id)"]\nenv: {TOKEN: "a,b=c\'d"}\n');
  const text = [...sbatchArgs({ id: 17, uid: 1001, gid: 1001, manifest: job.manifest }, settings), batchScript({ id: 17 }, settings)].join(
    '\n',
  );
  for (const leak of ['evil', 'rm -rf', 'TOKEN', 'a,b=c']) t.false(text.includes(leak), leak);
});

test('sbatch runs with PATH and SLURM_CONF only: SBATCH_* of the daemon never change a job', (t) => {
  t.deepEqual(
    sbatchEnvironment({ PATH: '/bin', SLURM_CONF: '/etc/slurm/slurm.conf', SBATCH_ACCOUNT: 'x', SBATCH_EXPORT: 'ALL', HOME: '/root' }),
    {
      PATH: '/bin',
      SLURM_CONF: '/etc/slurm/slurm.conf',
    },
  );
  t.deepEqual(Object.keys(sbatchEnvironment({})), ['PATH']);
});

// /bin/sh itself says what each quoted word is: printf prints them back, NUL-separated.
function wordsThroughShell(script: string): string[] {
  return execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8', env: {} }).split('\0').slice(0, -1);
}

test('property: a quoted word is that word to /bin/sh, whatever it holds', (t) => {
  fc.assert(
    fc.property(
      fc
        .oneof(fc.string({ unit: fc.constantFrom(...'\'"\\$`!*?[]{}();&|<> \n\t#~=%aé'.split('')) }), fc.string({ unit: 'grapheme' }))
        .filter((w) => !w.includes('\0')),
      (word) => {
        const back = wordsThroughShell(`printf '%s\\0' ${shellQuote(word)}`);
        return back.length === 1 && back[0] === word;
      },
    ),
    { numRuns: 200 },
  );
  t.throws(() => shellQuote('a\0b'));
});

test('the batch script execs the helper with the config and the job id, quoted against hostile paths', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dopq-batch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const configFile = `/etc/dopq/it's a "$(touch ${dir}/pwned)" \`id\`;\nrm -rf /; *.yaml`;
  const script = batchScript({ id: 17 }, { configFile, helper: ['/usr/bin/printf', '%s\\0'] });
  t.true(script.startsWith('#!/bin/sh\n'));
  t.regex(script, /^exec /m);
  const file = path.join(dir, 'batch.sh');
  writeFileSync(file, script);
  const words = execFileSync('/bin/sh', [file], { encoding: 'utf8', env: {} }).split('\0').slice(0, -1);
  t.deepEqual(words, ['--config', configFile, 'node-run', '17']);
  t.throws(() => execFileSync('test', ['-e', path.join(dir, 'pwned')]), undefined, 'nothing in the path ran');
  t.throws(() => batchScript({ id: 17 }, { configFile: '/c', helper: [] }));
});

test('the allocation: SLURM_JOB_ID and the node GPU indices Slurm gave, checked', (t) => {
  t.deepEqual(slurmAllocation({ SLURM_JOB_ID: '42', SLURM_JOB_GPUS: '1,3', CUDA_VISIBLE_DEVICES: '0,1' }), {
    ok: true,
    allocation: { jobId: '42', gpus: ['1', '3'] },
  });
  t.deepEqual(slurmAllocation({ SLURM_JOB_ID: '42', CUDA_VISIBLE_DEVICES: '2' }), { ok: true, allocation: { jobId: '42', gpus: ['2'] } });
  t.deepEqual(slurmAllocation({ SLURM_JOB_ID: '42' }), { ok: true, allocation: { jobId: '42', gpus: [] } });
  t.deepEqual(slurmAllocation({ SLURM_JOB_ID: '42', CUDA_VISIBLE_DEVICES: 'NoDevFiles' }), {
    ok: true,
    allocation: { jobId: '42', gpus: [] },
  });
  for (const env of [
    {},
    { SLURM_JOB_ID: '' },
    { SLURM_JOB_ID: '42; rm -rf /' },
    { SLURM_JOB_ID: '0' },
    { SLURM_JOB_ID: '42', SLURM_JOB_GPUS: 'all' },
    { SLURM_JOB_ID: '42', SLURM_JOB_GPUS: '0,0' },
    { SLURM_JOB_ID: '42', SLURM_JOB_GPUS: 'GPU-abc' },
    { SLURM_JOB_ID: '42', SLURM_JOB_GPUS: '1,' },
  ]) {
    t.false(slurmAllocation(env).ok, JSON.stringify(env));
  }
});

test('node-run refuses what Slurm cannot run as asked: other GPU counts, interactive and build jobs', (t) => {
  const two = spec('image: a\ngpus: 2\n');
  t.is(nodeRunRefusal(two, { jobId: '1', gpus: ['0', '1'] }), undefined);
  t.regex(nodeRunRefusal(two, { jobId: '1', gpus: ['0'] }) ?? '', /gave the job 1 GPU \(0\), it asked for 2/);
  t.regex(nodeRunRefusal(spec('image: a\ninteractive: true\ngpus: 0\n'), { jobId: '1', gpus: [] }) ?? '', /interactive/);
  const built = spec('build: {context: .}\ngpus: 0\n');
  t.regex(nodeRunRefusal(built, { jobId: '1', gpus: [] }) ?? '', /build: or image_archive:/);
});

test("a job file checked again against a node's config: mounts, images, limits, network and reserved env", (t) => {
  const loose = testConfig('images: {allowed: ["*"]}\nnetwork: {default: none, allowed: [none, bridge]}\n');
  const job = spec('image: evil/img\nmemory: 6g\nnetwork: bridge\nmounts: ["/data/x:/x"]\n', loose);
  t.deepEqual(recheckManifest(job.manifest, loose), []);
  const strict = parseConfig(
    'gpus: [0, 1, 2, 3]\ndefaults: {memory: 1g}\nlimits: {memory: 4g}\nimages: {allowed: ["pytorch/*"]}\nmounts: {allowed_roots: [/srv/data]}\n',
    '/etc/dopq/dopq.yaml',
  );
  const issues = recheckManifest(job.manifest, strict);
  t.deepEqual(issues.map((i) => i.path).sort(), ['image', 'memory', 'mounts[0]', 'network']);
  t.regex(issues.find((i) => i.path === 'mounts[0]')!.message, /must be under \/srv\/data, got \/data\/x/);
  // A job file someone edited by hand is held to the same rules as a manifest.
  const forged = { ...job.manifest, env: { NVIDIA_VISIBLE_DEVICES: 'all' } };
  t.true(recheckManifest(forged, loose).some((i) => i.path === 'env.NVIDIA_VISIBLE_DEVICES'));
});

test("the Slurm job label rides along; dopq's own labels cannot be overridden by it", (t) => {
  const job = spec('image: a\n');
  const options = containerSpec(
    job,
    ['0'],
    testConfig(),
    'inst',
    { gid: 1001, groups: [], binds: [] },
    {
      [LABEL_SLURM_JOB]: '42',
      'dopq.uid': '0',
    },
  );
  t.deepEqual(options.Labels, {
    'dopq.slurm_job': '42',
    'dopq.job': '17',
    'dopq.user': 'alice',
    'dopq.uid': '1001',
    'dopq.instance': 'inst',
  });
});

// Captured from Slurm 22.05 (`scontrol -d -o show job 13` on the test cluster), the name, uid,
// GPU indices, memory and time limit changed for this job.
const SHOW_JOB =
  'JobId=5 JobName=dopq-17 UserId=dopq-alice(1001) GroupId=dopq-alice(1001) MCS_label=N/A Priority=100000 Nice=0 Account=dopq ' +
  'QOS=normal JobState=RUNNING Reason=None Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 ' +
  'DerivedExitCode=0:0 RunTime=00:00:04 TimeLimit=01:00:00 TimeMin=N/A SubmitTime=2026-11-29T13:20:09 Partition=dopq ' +
  'AllocNode:Sid=localhost:22451 ReqNodeList=(null) ExcNodeList=(null) NodeList=node1 BatchHost=node1 NumNodes=1 NumCPUs=1 ' +
  'NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* TRES=cpu=1,mem=1088M,node=1,billing=2,gres/gpu=2 Socks/Node=* ' +
  'NtasksPerN:B:S:C=0:0:*:* CoreSpec=* JOB_GRES=gpu:2   Nodes=node1 CPU_IDs=7 Mem=1088 GRES=gpu:2(IDX:1,3) MinCPUsNode=1 ' +
  'MinMemoryNode=1088M MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) ' +
  'Network=(null) Command=(null) WorkDir=/ StdErr=/srv/spool/logs/17.log StdIn=/dev/null StdOut=/srv/spool/logs/17.log Power= ' +
  'TresPerNode=gres:gpu:2 \n';

test("scontrol's line: name, owner, state, batch host and the GRES indices", (t) => {
  t.deepEqual(parseShowJob(SHOW_JOB), {
    jobId: '5',
    name: 'dopq-17',
    uid: 1001,
    state: 'RUNNING',
    batchHost: 'node1',
    gpus: ['1', '3'],
    cpus: 1,
    memoryMiB: 1088,
    timeLimitMinutes: 60,
  });
  t.is(parseShowJob(SHOW_JOB.replace('mem=1088M', 'mem=2G'))?.memoryMiB, 2048);
  t.is(parseShowJob(SHOW_JOB.replace('mem=1088M', 'mem=1.50G'))?.memoryMiB, 1536);
  t.is(parseShowJob(SHOW_JOB.replace('TimeLimit=01:00:00', 'TimeLimit=UNLIMITED'))?.timeLimitMinutes, null);
  t.is(parseShowJob(SHOW_JOB.replace('TimeLimit=01:00:00', 'TimeLimit=2-03:04:05'))?.timeLimitMinutes, 2 * 1440 + 3 * 60 + 5);
  t.is(parseShowJob(SHOW_JOB.replace(' NumCPUs=1', ''))?.cpus, null);
  t.deepEqual(parseShowJob(SHOW_JOB.replace('GRES=gpu:2(IDX:1,3)', 'GRES=gpu:a100:3(IDX:0-1,3)'))?.gpus, ['0', '1', '3']);
  t.deepEqual(parseShowJob(SHOW_JOB.replace(' GRES=gpu:2(IDX:1,3)', ''))?.gpus, []);
  t.is(parseShowJob('slurm_load_jobs error: Invalid job id specified\n'), undefined);
  t.is(parseShowJob(SHOW_JOB.replace('IDX:1,3', 'IDX:3-1')), undefined);
  t.deepEqual(expandIndices('0-2,5'), ['0', '1', '2', '5']);
  t.is(expandIndices('a'), undefined);
});

test("through sudo only Slurm's record counts: the job dopq submitted, its owner's, running here; its GPUs", (t) => {
  const job = spec('image: a\ngpus: 2\n');
  const facts = parseShowJob(SHOW_JOB)!;
  t.deepEqual(verifiedAllocation(facts, job, '5', 'node1.cluster.example'), { ok: true, allocation: { jobId: '5', gpus: ['1', '3'] } });
  const problem = (f: typeof facts | undefined, host = 'node1', jobId = '5') => {
    const result = verifiedAllocation(f, job, jobId, host);
    return result.ok ? '' : result.problem;
  };
  t.regex(problem(undefined), /no job 5/);
  t.regex(problem(facts, 'node1', '6'), /no job 6/);
  t.regex(problem({ ...facts, name: 'dopq-18' }), /not dopq-17/);
  t.regex(problem({ ...facts, uid: 1002 }), /uid 1002, not as the job's owner alice/);
  t.regex(problem({ ...facts, state: 'COMPLETING' }), /COMPLETING, not RUNNING/);
  t.regex(problem(facts, 'node2'), /runs on node1, not on node2/);
});

test('through sudo the Slurm job must hold what the container takes: a user may lower it or sbatch their own dopq-ID', (t) => {
  // 1 CPU, 1g + 64m shm = 1088 MiB, 1h: what dopq asked Slurm for.
  const job = spec('image: a\ngpus: 2\n');
  const facts = parseShowJob(SHOW_JOB)!;
  const problem = (f: typeof facts) => {
    const result = verifiedAllocation(f, job, '5', 'node1');
    return result.ok ? '' : result.problem;
  };
  t.is(problem({ ...facts, cpus: 4, memoryMiB: 4096, timeLimitMinutes: 30 }), '', 'more CPUs and memory, less time: fine');
  t.regex(problem({ ...facts, memoryMiB: 1 }), /has 1 MiB, the container takes 1088 MiB/);
  t.regex(problem({ ...facts, memoryMiB: null }), /no stated MiB/);
  t.regex(problem({ ...facts, cpus: null }), /no stated CPUs/);
  // 2.5 CPUs need 3 of Slurm's whole ones.
  const wide = verifiedAllocation({ ...facts, cpus: 2, memoryMiB: 8192 }, spec('image: a\ngpus: 2\ncpus: 2.5\n'), '5', 'node1');
  t.deepEqual(wide, { ok: false, problem: 'Slurm job 5 has 2 CPUs, the container takes 3' });
  t.regex(problem({ ...facts, timeLimitMinutes: 61 }), /may run 61 minutes, the job's time limit is 60/);
  t.regex(problem({ ...facts, timeLimitMinutes: null }), /without a limit/);
});

test("through sudo the daemon's record must name the Slurm job: a user's own dopq-ID, an ended job or a second submission run nothing", (t) => {
  const record = (extra: Partial<JobRecord>): JobRecord => ({
    id: 17,
    user: 'alice',
    uid: 1001,
    name: 'train',
    image: 'a',
    gpus_requested: 2,
    gpus: [],
    state: 'queued',
    submitted_at: 1,
    time_limit: 3600,
    ...extra,
  });
  t.deepEqual(recordedSubmission(record({ slurm_job_id: 5, slurm_submit_at: 2 }), 17, '5'), { ok: true });
  t.deepEqual(recordedSubmission(record({ state: 'running', slurm_job_id: 5 }), 17, '5'), { ok: true });
  t.deepEqual(recordedSubmission(record({ slurm_job_id: 5 }), 17, '6'), {
    ok: false,
    wait: false,
    problem: 'job 17 is Slurm job 5, not 6',
  });
  t.deepEqual(recordedSubmission(record({ state: 'cancelled', slurm_job_id: 5 }), 17, '5'), {
    ok: false,
    wait: false,
    problem: 'job 17 has ended (cancelled)',
  });
  t.like(recordedSubmission(record({}), 17, '5'), { ok: false, wait: false, problem: 'dopq has not handed job 17 to Slurm' });
  t.like(recordedSubmission(undefined, 17, '5'), { ok: false, wait: false });
  // Written ahead, the id not saved yet (the daemon saves after sbatch returns): wait for it.
  t.like(recordedSubmission(record({ slurm_submit_at: 2 }), 17, '5'), { ok: false, wait: true });
});
