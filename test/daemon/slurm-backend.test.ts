// backend: slurm end to end, on the real single-node cluster (scripts/slurm-cluster.sh) with
// fake GPUs and real users: the daemon submits with sbatch as the owner, Slurm places and
// orders, `dopq node-run` runs the hardened container on the node, and q, rm, hold/release,
// log -f and wait work from the state the daemon mirrors out of squeue/sacct.
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import test from 'ava';
import type { StateFile } from '../../src/core/state.js';
import { hardeningViolations } from '../helpers/hardening.js';
import { resetSlurmUsage, slurmCluster, SLURM } from '../helpers/slurm.js';
import { allowNodeRun, SUDO_HELPER } from '../helpers/sudoers.js';
import { docker, makeSpool, type TestSpool } from '../helpers/spool.js';
import { alice, bob } from '../helpers/users.js';

test.before(async () => {
  await slurmCluster();
});

/** A spool whose daemon hands its jobs to Slurm; its Slurm jobs are cancelled when the test ends. */
async function slurmSpool(t: Parameters<typeof makeSpool>[0]): Promise<TestSpool> {
  const spool = await makeSpool(t, {
    backend: 'slurm',
    slurm: { partition: SLURM.partition, account: SLURM.account, helper: SUDO_HELPER, term_grace: '5s' },
    gpus: [],
  });
  // The rule `dopq slurm-setup` prints (man dopq, node-run), for this spool's config.
  t.teardown(allowNodeRun(spool.configFile));
  t.teardown(() => {
    const lines = execFileSync('squeue', ['--all', '-h', '-o', '%i|%k'], { encoding: 'utf8' }).split('\n');
    const ids = lines.filter((line) => line.endsWith(`|${markOf(spool)}`)).map((line) => line.split('|')[0]!);
    if (ids.length > 0) execFileSync('scancel', ids);
  });
  return spool;
}

/** The mark (sbatch --comment) of this spool's Slurm jobs. */
function markOf(spool: TestSpool): string {
  return `dopq:${spool.labels()[0]!.split('=')[1]!}`;
}

/** This spool's containers of Slurm job `slurmId` (running or not). */
async function containersOf(spool: TestSpool, slurmId: number): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: spool.labels(`dopq.slurm_job=${slurmId}`) } });
  return list.map((c) => c.Id);
}

/** Slurm's state word for a job, as scontrol says it. */
function slurmState(slurmId: number): string {
  const out = execFileSync('scontrol', ['show', 'job', '-o', String(slurmId)], { encoding: 'utf8' });
  return /JobState=(\S+)/.exec(out)?.[1] ?? '?';
}

test.serial('the same manifest runs on a Slurm node as a hardened container of its owner; log -f and wait end with its exit', async (t) => {
  const spool = await slurmSpool(t);
  const daemon = spool.startDaemon();
  const gate = spool.gate('who');
  const id = await spool.push(
    { name: 'who', gpus: 2, command: `id -u; echo "gpus=$DOPQ_GPUS"; ${gate.wait}; echo bye; exit 3`, mounts: gate.mounts },
    alice(),
  );
  const running = await spool.waitForJob(id, ['running']);
  const slurm = running.slurm!;
  t.truthy(slurm, 'q shows the job in Slurm');
  t.is(slurm.node, hostname().split('.')[0]!);
  t.is(running.gpus.length, 2, 'two of the node GPUs');
  t.is(slurmState(slurm.job_id), 'RUNNING');

  const [container] = await spool.waitFor('its container', async () => {
    const ids = await containersOf(spool, slurm.job_id);
    return ids.length > 0 ? ids : undefined;
  });
  const info = await docker.getContainer(container!).inspect();
  t.is(info.Config.User?.split(':')[0], String(alice().uid), 'runs as its owner');
  t.deepEqual(hardeningViolations(info, { allowedRoots: [spool.dir], networks: ['none'] }), []);

  const follow = spool.cli(['log', '-f', String(id)], { user: alice() });
  await spool.waitFor('the job to print', async () => {
    const log = await spool.cli(['log', String(id)], { user: alice() });
    return log.stdout.includes('gpus=');
  });
  await gate.open();
  const followed = await follow;
  t.is(followed.code, 3, followed.stderr);
  t.regex(followed.stdout, new RegExp(`^${alice().uid}$`, 'm'));
  t.regex(followed.stdout, /^bye$/m);
  t.is((await spool.cli(['wait', String(id)], { user: alice() })).code, 3);
  t.like(await spool.job(id), { state: 'failed', reason: 'exited', exit_code: 3 });
  await spool.waitFor('the container to be removed', async () => (await containersOf(spool, slurm.job_id)).length === 0);
  await daemon.stop();
});

test.serial(
  'rm cancels in Slurm and the container goes; hold, release and top reach Slurm; a cancelled queued job leaves Slurm',
  async (t) => {
    const spool = await slurmSpool(t);
    const daemon = spool.startDaemon();
    const blocker = await spool.push({ name: 'blocker', gpus: 4, command: 'sleep 600' }, alice());
    const running = await spool.waitForJob(blocker, ['running']);
    await spool.waitFor('its container', async () => (await containersOf(spool, running.slurm!.job_id)).length > 0);

    const waiting = await spool.push({ name: 'waits', gpus: 1, command: 'echo ran' }, bob());
    const pending = await spool.waitFor('the job pending in Slurm', async () => {
      const job = await spool.job(waiting);
      // Slurm says why once its scheduler has looked (None before).
      return job?.slurm?.state === 'PENDING' && job.slurm.reason ? job : undefined;
    });
    t.is(pending.state, 'queued');
    t.regex(pending.slurm!.reason!, /Resources|Priority/);

    t.is((await spool.cli(['hold', String(waiting)], { user: bob() })).code, 0);
    await spool.waitFor('Slurm to hold it', async () => /JobHeld/.test((await spool.job(waiting))?.slurm?.reason ?? ''));
    t.is((await spool.cli(['release', String(waiting)], { user: bob() })).code, 0);
    await spool.waitFor('Slurm to release it', async () => {
      const job = await spool.job(waiting);
      return job?.held_by === null && !/JobHeld/.test(job.slurm?.reason ?? '');
    });

    // dopq top is scontrol top: ahead of the owner's other pending jobs, by Slurm's priority.
    const later = await spool.push({ name: 'later', gpus: 1, command: 'echo ran' }, bob());
    await spool.waitFor('it pending in Slurm', async () => (await spool.job(later))?.slurm?.priority != null);
    t.is((await spool.cli(['top', String(later)], { user: bob() })).code, 0);
    await spool.waitFor('Slurm to put it ahead', async () => {
      const view = await spool.q();
      const position = (id: number) => view.jobs.find((j) => j.id === id)?.position ?? Infinity;
      return position(later) < position(waiting);
    });

    const dropped = await spool.push({ name: 'dropped', gpus: 1, command: 'echo never' }, bob());
    const droppedSlurm = (await spool.waitFor('it in Slurm', async () => (await spool.job(dropped))?.slurm ?? undefined)).job_id;
    t.is((await spool.cli(['rm', String(dropped)], { user: bob() })).code, 0);
    await spool.waitFor('Slurm to cancel it', async () => slurmState(droppedSlurm) === 'CANCELLED');
    t.like(await spool.job(dropped), { state: 'cancelled' });

    t.is((await spool.cli(['rm', String(blocker)], { user: alice() })).code, 0);
    const cancelled = await spool.waitForJob(blocker, ['cancelled']);
    t.like(cancelled, { reason: 'cancelled', message: 'cancelled by dopq-alice' });
    await spool.waitFor('the container to be gone', async () => (await containersOf(spool, running.slurm!.job_id)).length === 0);
    t.like(await spool.waitForJob(waiting, ['done']), { exit_code: 0 });
    t.like(await spool.waitForJob(later, ['done']), { exit_code: 0 });
    await daemon.stop();
  },
);

test.serial('a job over its time limit is stopped by Slurm and its container removed', async (t) => {
  const spool = await slurmSpool(t);
  const daemon = spool.startDaemon();
  const id = await spool.push({ name: 'overtime', gpus: 1, time_limit: '1m', command: 'echo start; sleep 600' }, alice());
  const running = await spool.waitForJob(id, ['running']);
  const ended = await spool.waitForJob(id, ['failed', 'done', 'cancelled'], 180_000);
  t.like(ended, { state: 'failed', reason: 'time-limit' });
  await spool.waitFor('the container to be gone', async () => (await containersOf(spool, running.slurm!.job_id)).length === 0);
  t.is((await spool.cli(['wait', String(id)], { user: alice() })).code, ended.exit_code ?? 202);
  await daemon.stop();
});

test.serial("after alice used GPU time, bob's waiting job starts first by Slurm's fair-share", async (t) => {
  const spool = await slurmSpool(t);
  const daemon = spool.startDaemon();
  await resetSlurmUsage(alice().name, bob().name); // an even start, whatever ran before
  // Alice uses all four GPUs for a while: Slurm counts it at its next priority calculation.
  const used = await spool.push({ name: 'used', gpus: 4, command: 'sleep 20' }, alice());
  await spool.waitForJob(used, ['done'], 180_000);
  await spool.waitFor(
    "Slurm to count alice's usage",
    async () => {
      const users = (await spool.q()).users;
      const a = users.find((u) => u.user === 'dopq-alice');
      const b = users.find((u) => u.user === 'dopq-bob');
      return a?.fairshare != null && b?.fairshare != null && a.fairshare < b.fairshare;
    },
    180_000,
  );
  // Both wait for every GPU behind a blocker (alice's, so bob's usage stays none); alice's is pushed first.
  const gate = spool.gate('fair');
  const blocker = await spool.push({ name: 'blocker', gpus: 4, command: gate.wait, mounts: gate.mounts }, alice());
  await spool.waitForJob(blocker, ['running']);
  const first = await spool.push({ name: 'alice-waits', gpus: 4, command: 'true' }, alice());
  const second = await spool.push({ name: 'bob-waits', gpus: 4, command: 'true' }, bob());
  await spool.waitFor('both pending in Slurm with their priorities', async () => {
    const view = await spool.q();
    const a = view.jobs.find((j) => j.id === first)?.slurm?.priority;
    const b = view.jobs.find((j) => j.id === second)?.slurm?.priority;
    return a != null && b != null && b > a;
  });
  t.is((await spool.job(second))!.position, 1, "bob's job is first in q's order (Slurm's priority)");
  await gate.open();
  const [a, b] = [await spool.waitForJob(first, ['done'], 180_000), await spool.waitForJob(second, ['done'], 180_000)];
  t.true(Date.parse(b.started_at!) <= Date.parse(a.started_at!), `bob started ${b.started_at}, alice ${a.started_at}`);
  await daemon.stop();
});

test.serial(
  'a daemon killed between sbatch and saving its answer finds the job in Slurm by name: never run twice, never lost',
  async (t) => {
    const spool = await slurmSpool(t);
    const first = spool.startDaemon();
    const gate = spool.gate('once');
    const id = await spool.push(
      { name: 'once', gpus: 1, command: `echo ran >> ${spool.shared}/runs; ${gate.wait}`, mounts: gate.mounts },
      alice(),
    );
    const running = await spool.waitForJob(id, ['running']);
    const slurmId = running.slurm!.job_id;
    await first.stop('SIGKILL');
    // What the disk holds when the kill came after sbatch, before the save of its answer: the mark only.
    const stateFile = path.join(spool.spoolDir, 'state', 'state.json');
    const state = JSON.parse(await readFile(stateFile, 'utf8')) as StateFile;
    const job = state.jobs.find((j) => j.id === id)!;
    const { slurm_job_id: _id, slurm: _s, started_at: _at, ...marked } = job;
    state.jobs = state.jobs.map((j) => (j.id === id ? { ...marked, state: 'queued', gpus: [], slurm_submit_at: Date.now() - 5000 } : j));
    await writeFile(stateFile, JSON.stringify(state));

    const second = spool.startDaemon();
    const adopted = await spool.waitForJob(id, ['running']);
    t.is(adopted.slurm!.job_id, slurmId, 'the Slurm job it had, adopted');
    await gate.open();
    t.like(await spool.waitForJob(id, ['done']), { exit_code: 0 });
    t.is(await readFile(path.join(spool.shared, 'runs'), 'utf8'), 'ran\n', 'it ran once');
    // Other spools' jobs have the same names (their own ids): this spool's carry its mark (--comment).
    const named = execFileSync('squeue', ['--all', '-h', '--states=all', '--name', `dopq-${id}`, '-o', '%i|%k'], { encoding: 'utf8' });
    const ours = named.split('\n').filter((line) => line.endsWith(`|${markOf(spool)}`));
    t.deepEqual(ours, [`${slurmId}|${markOf(spool)}`], 'one Slurm job of that name');
    await second.stop();
  },
);

test.serial('after: and after_any: become --dependency in Slurm; a job after one that failed is cancelled in both', async (t) => {
  const spool = await slurmSpool(t);
  const daemon = spool.startDaemon();
  const gate = spool.gate('parent');
  const parent = await spool.push({ name: 'parent', gpus: 1, command: gate.wait, mounts: gate.mounts }, alice());
  const failing = await spool.push({ name: 'failing', gpus: 1, command: 'exit 1' }, alice());
  const child = await spool.push({ name: 'child', gpus: 1, command: 'true', after: [parent] }, alice());
  const orphan = await spool.push({ name: 'orphan', gpus: 1, command: 'true', after: [failing] }, alice());
  const anyway = await spool.push({ name: 'anyway', gpus: 1, command: 'true', after_any: [failing] }, alice());
  const waiting = await spool.waitFor('the child pending on its dependency', async () => {
    const job = await spool.job(child);
    return job?.slurm?.reason === 'Dependency' ? job : undefined;
  });
  t.is(waiting.state, 'queued');
  t.like(await spool.waitForJob(failing, ['failed']), { exit_code: 1 });
  t.like(await spool.waitForJob(orphan, ['cancelled']), { reason: 'dependency-failed' });
  const orphanSlurm = (await spool.job(orphan))!.slurm;
  if (orphanSlurm) await spool.waitFor('Slurm to cancel it too', async () => slurmState(orphanSlurm.job_id) === 'CANCELLED');
  t.like(await spool.waitForJob(anyway, ['done']), { exit_code: 0 });
  await gate.open();
  await spool.waitForJob(parent, ['done']);
  const done = await spool.waitForJob(child, ['done']);
  t.true(Date.parse(done.started_at!) >= Date.parse((await spool.job(parent))!.finished_at!) - 1000, 'the child ran after its parent');
  await daemon.stop();
});

test.serial("a job Slurm can never run (more GPUs than any node) fails at once with Slurm's reason", async (t) => {
  const spool = await slurmSpool(t);
  const daemon = spool.startDaemon();
  const big = await spool.push({ name: 'big', gpus: 6, command: 'true' }, alice());
  const failed = await spool.waitForJob(big, ['failed']);
  t.like(failed, { reason: 'start-failed', slurm: null });
  t.regex(failed.message!, /Slurm refused it: .*Requested node configuration is not available/);
  t.is((await spool.cli(['wait', String(big)], { user: alice() })).code, 202);
  await daemon.stop();
});
