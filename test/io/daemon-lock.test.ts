// The daemon lock against real processes: a holder that was SIGKILLed, ownerless leftovers,
// and several processes released at the same instant against one lock.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { LockBusyError } from '../../src/core/errors.js';
import { acquireDaemonLock, daemonAlive, readDaemonPid } from '../../src/io/spool/daemon-lock.js';

const MODULE = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/io/spool/daemon-lock.js')).href;

// A contender: says `ready`, waits for `go` on stdin, tries once, reports, holds a while (mode
// `hold-open`: until its stdin ends), exits.
const CONTENDER = `
import { acquireDaemonLock } from ${JSON.stringify(MODULE)};
const [lockFile, pidFile, mode, holdMs] = process.argv.slice(2);
process.stdout.write('ready\\n');
process.stdin.once('data', async () => {
  try {
    const lock = await acquireDaemonLock(lockFile, pidFile, () => process.stdout.write('compromised\\n'));
    process.stdout.write('got\\n');
    if (mode === 'die') process.kill(process.pid, 'SIGKILL');
    if (mode === 'hold-open') await new Promise((resolve) => process.stdin.once('end', resolve));
    else await new Promise((resolve) => setTimeout(resolve, Number(holdMs)));
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

interface Contender {
  /** `go` releases it; the end of it lets a `hold-open` contender go. */
  stdin: Writable;
  ready: Promise<void>;
  /** Resolves once the contender has said `text`. */
  said(text: string): Promise<void>;
  /** What it said after `ready`, once it has exited. */
  closed: Promise<string>;
}

function contender(f: Fixture, mode: string, holdMs: number): Contender {
  const child = spawn(process.execPath, [f.script, f.lockFile, f.pidFile, mode, String(holdMs)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const said = (text: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => out.includes(text) && resolve();
      check();
      child.stdout.on('data', check);
      // One that exits first (a module it cannot load) fails the test now, not at the timeout.
      child.on('close', (code) => reject(new Error(`a contender exited (${code}) before it said ${text}`)));
    });
  const closed = new Promise<string>((resolve) => child.on('close', () => resolve(out.replace('ready\n', '').trim())));
  return { stdin: child.stdin, ready: said('ready'), said, closed };
}

/** Start `count` contenders, release them together, and collect what each said. */
async function race(f: Fixture, count: number, mode = 'hold', holdMs = 500): Promise<string[]> {
  const contenders = Array.from({ length: count }, () => contender(f, mode, holdMs));
  await Promise.all(contenders.map((c) => c.ready));
  for (const c of contenders) c.stdin.write('go\n');
  return Promise.all(contenders.map((c) => c.closed));
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
  // It holds the lock until told to let go: however slow this machine, it is alive meanwhile.
  const holder = contender(f, 'hold-open', 0);
  await holder.ready;
  holder.stdin.write('go\n');
  await holder.said('got');
  const old = new Date(Date.now() - 3_600_000);
  for (const name of await readdir(f.lockDir)) await utimes(path.join(f.lockDir, name), old, old);
  await utimes(f.lockDir, old, old);
  await t.throwsAsync(acquireDaemonLock(f.lockFile, f.pidFile, noop), {
    instanceOf: LockBusyError,
    message: /active on this spool \(pid \d+\)/,
  });
  holder.stdin.end();
  t.deepEqual([await holder.closed], ['got']);
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
  let tell!: (error: Error) => void;
  const told = new Promise<Error>((resolve) => (tell = resolve));
  const lock = await acquireDaemonLock(f.lockFile, f.pidFile, (error) => tell(error));
  await rm(f.lockDir, { recursive: true });
  // Waits for the callback itself, however long the lock's next check takes on a loaded machine.
  // The lock's check timer is unref'd: a timer of ours keeps the process up until it fires.
  const awake = setInterval(() => {}, 1000);
  t.regex((await told.finally(() => clearInterval(awake))).message, /taken over|lost|removed/);
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
