// The daemon lock against real processes: a holder that was SIGKILLed, ownerless leftovers,
// and several processes released at the same instant against one lock.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { LockBusyError } from '../../src/core/errors.js';
import { acquireDaemonLock, daemonAlive, readDaemonPid } from '../../src/io/spool/daemon-lock.js';

const MODULE = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/io/spool/daemon-lock.js')).href;

// A contender: says `ready`, waits for `go` on stdin, tries once, reports, holds a while, exits.
const CONTENDER = `
import { acquireDaemonLock } from ${JSON.stringify(MODULE)};
const [lockFile, pidFile, mode, holdMs] = process.argv.slice(2);
process.stdout.write('ready\\n');
process.stdin.once('data', async () => {
  try {
    const lock = await acquireDaemonLock(lockFile, pidFile, () => process.stdout.write('compromised\\n'));
    process.stdout.write('got\\n');
    if (mode === 'die') process.kill(process.pid, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, Number(holdMs)));
    await lock.release();
  } catch (error) {
    process.stdout.write((error.exitCode === 75 ? 'busy ' : 'error ') + error.message + '\\n');
  }
  process.exit(0);
});
`;

interface Fixture {
  dir: string;
  lockFile: string;
  lockDir: string;
  pidFile: string;
  script: string;
}

async function fixture(t: ExecutionContext): Promise<Fixture> {
  const dir = await mkdtemp(path.join(tmpdir(), 'dopq-lock-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const script = path.join(dir, 'contender.mjs');
  await writeFile(script, CONTENDER);
  const lockFile = path.join(dir, 'daemon');
  return { dir, lockFile, lockDir: `${lockFile}.lock`, pidFile: path.join(dir, 'daemon.pid'), script };
}

/** Start `count` contenders, release them together, and collect what each said. */
async function race(f: Fixture, count: number, mode = 'hold', holdMs = 500): Promise<string[]> {
  const children = Array.from({ length: count }, () =>
    spawn(process.execPath, [f.script, f.lockFile, f.pidFile, mode, String(holdMs)], { stdio: ['pipe', 'pipe', 'inherit'] }),
  );
  const outputs = children.map((child) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    // A contender that dies first (a module it cannot load) fails the test now, not at the timeout.
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', () => out.includes('ready') && resolve());
      child.on('close', (code) => reject(new Error(`a contender exited (${code}) before it was ready`)));
    });
    const closed = new Promise<string>((resolve) => child.on('close', () => resolve(out.replace('ready\n', '').trim())));
    return { ready, closed };
  });
  await Promise.all(outputs.map((o) => o.ready));
  for (const child of children) child.stdin.write('go\n');
  return Promise.all(outputs.map((o) => o.closed));
}

/** A lock whose holder was SIGKILLed while holding it. */
async function leaveDeadHolder(t: ExecutionContext, f: Fixture): Promise<void> {
  const [said] = await race(f, 1, 'die');
  t.is(said, 'got');
  t.true(
    (await readdir(f.lockDir)).some((name) => name.startsWith('owner')),
    'the dead holder left its lock',
  );
}

const noop = () => {};
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

test('one holder per lock; release lets the next one in', async (t) => {
  const f = await fixture(t);
  const lock = await acquireDaemonLock(f.lockFile, f.pidFile, noop);
  t.deepEqual(await readDaemonPid(f.pidFile), { pid: process.pid, host: hostname() });
  const busy = await t.throwsAsync(acquireDaemonLock(f.lockFile, f.pidFile, noop), { instanceOf: LockBusyError });
  t.is(busy?.exitCode, 75);
  t.regex(busy?.message ?? '', new RegExp(`another dopq run is active on this spool \\(pid ${process.pid}\\)`));
  await lock.release();
  t.is(await readDaemonPid(f.pidFile), undefined);
  await t.throwsAsync(readdir(f.lockDir), { code: 'ENOENT' }, 'release removes the lock folder');
  await (await acquireDaemonLock(f.lockFile, f.pidFile, noop)).release();
});

test('a lock whose holder was SIGKILLed is taken over at once', async (t) => {
  const f = await fixture(t);
  await leaveDeadHolder(t, f);
  t.false(await daemonAlive(f.pidFile));
  // Its lock is seconds old, far from stale: only the dead pid lets us in.
  const lock = await acquireDaemonLock(f.lockFile, f.pidFile, noop);
  t.is((await readDaemonPid(f.pidFile))?.pid, process.pid);
  await lock.release();
});

test('a live holder is never taken over, whatever the age of its lock', async (t) => {
  const f = await fixture(t);
  const children = race(f, 1, 'hold', 3_000);
  for (let i = 0; i < 100 && !(await readdir(f.lockDir).catch(() => [] as string[])).some((n) => n.startsWith('owner')); i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const old = new Date(Date.now() - 3_600_000);
  for (const name of await readdir(f.lockDir)) await utimes(path.join(f.lockDir, name), old, old);
  await utimes(f.lockDir, old, old);
  await t.throwsAsync(acquireDaemonLock(f.lockFile, f.pidFile, noop), {
    instanceOf: LockBusyError,
    message: /active on this spool \(pid \d+\)/,
  });
  t.deepEqual(await children, ['got']);
});

test('a lock folder with no owner: busy while fresh, taken over once stale', async (t) => {
  const f = await fixture(t);
  await mkdir(f.lockDir);
  await t.throwsAsync(acquireDaemonLock(f.lockFile, f.pidFile, noop), {
    instanceOf: LockBusyError,
    message: /taking the spool at this moment/,
  });
  const old = new Date(Date.now() - 60_000);
  await utimes(f.lockDir, old, old);
  await (await acquireDaemonLock(f.lockFile, f.pidFile, noop)).release();
});

test('an owner whose pid now belongs to another process (pid reuse) is dead', async (t) => {
  const f = await fixture(t);
  await mkdir(f.lockDir);
  // Our parent is alive, but it started before the time recorded here: not the holder.
  await writeFile(path.join(f.lockDir, 'owner.0123456789abcdef'), `${process.ppid} ${hostname()} 1\n`);
  const lock = await acquireDaemonLock(f.lockFile, f.pidFile, noop);
  t.is((await readDaemonPid(f.pidFile))?.pid, process.pid);
  await lock.release();
});

test('a holder whose lock is taken away is told (onCompromised)', async (t) => {
  const f = await fixture(t);
  let told: Error | undefined;
  const lock = await acquireDaemonLock(f.lockFile, f.pidFile, (error) => (told = error));
  await rm(f.lockDir, { recursive: true });
  const deadline = Date.now() + 8_000;
  while (!told && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  t.regex(told?.message ?? 'not told', /taken over|lost|removed/);
  await lock.release();
});

for (const start of ['free', 'dead-holder'] as const) {
  test(`six processes released together on a ${start} lock: exactly one gets it (10 rounds)`, async (t) => {
    const f = await fixture(t);
    for (let round = 0; round < 10; round += 1) {
      if (start === 'dead-holder') await leaveDeadHolder(t, f);
      const said = await race(f, 6);
      const got = said.filter((s) => s === 'got');
      t.is(got.length, 1, `round ${round}: ${JSON.stringify(said)}`);
      for (const s of said.filter((x) => x !== 'got'))
        t.regex(s, /^busy another dopq run (is active on this spool \(pid \d+\)|is taking the spool|took the spool)/, `round ${round}`);
      await t.throwsAsync(readdir(f.lockDir), { code: 'ENOENT' }, 'the winner released it');
    }
  });
}

test.serial("acquisition time (median of 20): free lock, and a dead holder's lock", async (t) => {
  const f = await fixture(t);
  const free: number[] = [];
  for (let i = 0; i < 20; i += 1) {
    const started = performance.now();
    const lock = await acquireDaemonLock(f.lockFile, f.pidFile, noop);
    free.push(performance.now() - started);
    await lock.release();
  }
  // Dead holders made cheaply: each acquisition is left unreleased, its owner file then names a
  // process that has exited (what a SIGKILL leaves).
  const exited = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ['-e', '']);
    child.on('close', () => resolve(child.pid!));
  });
  const takeover: number[] = [];
  for (let i = 0; i < 20; i += 1) {
    const [owner] = (await readdir(f.lockDir).catch(() => [])).filter((name) => name.startsWith('owner'));
    if (owner) {
      const [, host, start] = (await readFile(path.join(f.lockDir, owner), 'utf8')).trim().split(' ');
      await writeFile(path.join(f.lockDir, owner), `${exited} ${host} ${start}\n`);
    }
    const started = performance.now();
    await acquireDaemonLock(f.lockFile, f.pidFile, noop);
    if (i > 0) takeover.push(performance.now() - started);
  }
  t.log(
    `free: median ${median(free).toFixed(2)} ms; dead holder: median ${median(takeover).toFixed(2)} ms (n=${free.length}/${takeover.length})`,
  );
  // Loose bounds: CI machines are shared; the point is that nothing waits or polls.
  t.true(median(free) < 500);
  t.true(median(takeover) < 500);
});
