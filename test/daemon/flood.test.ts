// No user can wedge or flood the queue: odd entries in the drop folders (folders, FIFOs, a job
// whose context is a folder) are dealt with once, and thousands of requests cost little.
import { readdir, utimes } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { makeSpool } from '../helpers/spool.js';
import { alice, bob, shellAs } from '../helpers/users.js';

const count = (text: string, pattern: RegExp) => text.split('\n').filter((line) => pattern.test(line)).length;

test('folders, FIFOs and a folder as a build context stop no pass; time limits still hold', async (t) => {
  const spool = await makeSpool(t, { gpus: [0, 1] });
  const daemon = spool.startDaemon();
  const limited = await spool.push({ name: 'limited', command: 'sleep 300', time_limit: '3s' }, alice());
  await spool.waitForJob(limited, ['running']);

  const b = bob();
  const envelope = { id: 18, submitted_at: Date.now(), source: 'x.yaml', manifest: 'name: ctx\nbuild: {context: .}\ngpus: 0\n', context: { file: '18.ctx', bytes: 10, sha256: 'a'.repeat(64) } };
  const dropped = await shellAs(
    b,
    `cd ${spool.spoolDir} && mkdir requests/x.req intake/17.job intake/18.ctx intake/19.ctx intake/.push-old.ctx && touch requests/x.req/inside && mkfifo requests/y.req && ` +
      `printf '%s' '${JSON.stringify(envelope)}' > intake/.t && mv intake/.t intake/18.job`,
  );
  t.is(dropped.code, 0, dropped.stderr);
  // Orphaned contexts older than an hour (a push that died): cleaned up even when folders.
  const old = new Date(Date.now() - 2 * 3600_000);
  for (const name of ['19.ctx', '.push-old.ctx']) await utimes(path.join(spool.spoolDir, 'intake', name), old, old);

  const after = await spool.push({ name: 'after', command: 'echo after' }, alice());
  t.is((await spool.waitForJob(after, ['done'], 120_000)).state, 'done', "alice's job still starts");
  const stopped = await spool.waitForJob(limited, ['failed', 'done', 'cancelled'], 120_000);
  // Stopped by dopq for its limit (the command alone would sleep 300 s); no wall-clock bound
  // here, since a loaded machine may take a few passes to get to it.
  t.is(stopped.reason, 'time-limit');

  await spool.waitFor('the odd entries to be gone', async () => {
    const [intake, requests] = await Promise.all([readdir(path.join(spool.spoolDir, 'intake')), readdir(path.join(spool.spoolDir, 'requests'))]);
    return intake.length === 0 && requests.length === 0;
  }, 120_000);
  await sleep(3000); // several more passes and one more round of chores
  t.is(daemon.child.exitCode, null, 'the daemon keeps running');
  const log = daemon.output();
  t.is(count(log, /pass failed|failed: .*the rest of the pass goes on/), 0, log);
  // bob's refused requests of one pass share one line: the folder and the FIFO, once each at most.
  const requestLines = count(log, /x\.req|y\.req/);
  t.true(requestLines >= 1 && requestLines <= 2, log);
  t.is(count(log, /17\.job/), 1, 'the folder job file: one line');
  t.is(count(log, /18\.ctx/), 1, 'the job whose context is a folder: one line');
  t.regex(log, /removed 2 build contexts whose push never finished/);
  const rejected = (await readdir(path.join(spool.spoolDir, 'rejected'))).join(' ');
  t.regex(rejected, /dropped-x\.req-/, 'a folder with something in it is moved out of the user\'s reach, never walked');
  t.is((await spool.q(b)).jobs.filter((job) => job.user === 'dopq-bob' && job.state === 'rejected').length, 2, 'bob sees his two refused job files');
  await daemon.stop();
});

test('3,000 requests and one naming a job 21,000 times: handled in a few passes, a handful of log lines', async (t) => {
  const spool = await makeSpool(t, { gpus: [0, 1] });
  const daemon = spool.startDaemon();
  const target = await spool.push({ name: 'target', command: 'sleep 300' }, alice());
  await spool.waitForJob(target, ['running']);

  const b = bob();
  const dir = path.join(spool.spoolDir, 'requests');
  // Written atomically as bob (temp name, then rename), as the CLI does, but 3,000 times.
  const written = await shellAs(
    b,
    `cd ${dir} && i=0; while [ $i -lt 3000 ]; do printf '{"op":"rm","ids":[${target}],"at":%d}\\n' ${Date.now()} > .t$i && mv .t$i r$i.req; i=$((i+1)); done; ` +
      `awk 'BEGIN { printf "{\\"op\\":\\"rm\\",\\"ids\\":["; for (i = 0; i < 21000; i++) printf "%s%d", (i ? "," : ""), ${target}; printf "],\\"at\\":${Date.now()}}\\n" }' > .big && mv .big big.req`,
  );
  t.is(written.code, 0, written.stderr);
  const flooded = Date.now();
  const after = await spool.push({ name: 'after', command: 'echo after' }, alice());
  const pushed = Date.now();
  await spool.waitFor('the requests to be handled', async () => (await readdir(dir)).length === 0, 60_000);
  const chewed = Date.now() - flooded;
  const started = await spool.waitForJob(after, ['running', 'done'], 60_000);
  const wait = Date.parse(started.started_at!) - pushed;
  t.log(`3,001 requests handled within ${chewed} ms of being dropped; alice's next job started ${wait} ms after its push`);
  // Measured in passes, not seconds: the flood is handled in a few passes, not one per request
  // (the daemon logs each pass that handles 500 requests or more).
  const floodPasses = [...daemon.output().matchAll(/pass \d+: handled (\d+) requests/g)].map((m) => Number(m[1]));
  // 3,001 files, none left (checked above); at most a handful of passes took 500 or more each.
  t.true(floodPasses.length <= 6, `passes that handled 500+ requests: ${floodPasses.join(', ')}`);
  t.is((await spool.job(target))!.state, 'running', "bob cannot cancel alice's job");

  const log = daemon.output();
  const refusals = count(log, /refused/);
  t.true(refusals >= 1 && refusals <= 5, `${refusals} refusal lines:\n${log}`);
  t.regex(log, /refused rm by dopq-bob: not the owner \(dopq-alice\) nor an admin \(and \d+ more refused or ignored requests from dopq-bob in this pass\)/);
  t.true(log.length < 20_000, `the log holds ${log.length} bytes`);
  await daemon.stop();
});
