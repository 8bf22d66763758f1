// Interactive jobs with real users, a real engine and a real terminal (tmux): `dopq shell` waits
// its turn and then is the job's terminal; only the owner reaches it; detach, attach, a daemon
// restart and a client that reads nothing or vanishes leave the job running and the daemon going.
import { readdir } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { CLI } from '../helpers/cli.js';
import { IMAGE, makeSpool, type TestSpool } from '../helpers/spool.js';
import { tmuxAs } from '../helpers/tmux.js';
import { alice, bob, runAs, type UnixUser } from '../helpers/users.js';

const dopq = (spool: TestSpool, ...args: string[]) => [process.execPath, CLI, '--config', spool.configFile, ...args];
const socketOf = (spool: TestSpool, id: number) => path.join(spool.spoolDir, 'sessions', `${id}.sock`);

/** What connecting to `file` as `user` says: `connected`, or the error code. */
async function connectAs(user: UnixUser, file: string): Promise<string> {
  const script = `require('net').connect(${JSON.stringify(file)}).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); });`;
  return (await runAs(user, process.execPath, ['-e', script])).stdout.trim();
}

test('dopq shell waits its turn, then runs id and echo $DOPQ_GPUS as the user in a terminal, and the job ends with the session', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  spool.startDaemon();
  const gate = spool.gate('busy');
  const busy = await spool.push({ name: 'busy', command: gate.wait, mounts: gate.mounts, gpus: 1 }, bob());
  await spool.waitForJob(busy, ['running']);

  const terminal = tmuxAs(t, alice(), dopq(spool, 'shell', '--image', IMAGE, '--gpus', '1', '--time', '5m'));
  const id = Number((await terminal.waitFor(/job (\d+) queued/))[1]);
  // Its turn comes after bob's job: it waits, and says where it stands.
  await terminal.waitFor(new RegExp(`job ${id} waits: 1st to start`));
  const read = await spool.waitFor('the daemon to read it', async () => {
    const job = await spool.job(id);
    return job?.ingested ? job : undefined;
  });
  t.like(read, { state: 'queued', interactive: true, user: 'dopq-alice' });

  await gate.open();
  await terminal.waitFor(new RegExp(`attached to job ${id}`));
  terminal.line('id; echo "gpus=[$DOPQ_GPUS] tty=$(tty)"');
  await terminal.waitFor(/gpus=\[0\] tty=\/dev\/pts/);
  t.regex(terminal.screen(), new RegExp(`uid=${alice().uid} gid=${alice().gid}`));
  const running = await spool.job(id);
  const before = await spool.job(busy);
  t.true(Date.parse(running!.started_at!) >= Date.parse(before!.finished_at!), 'started only once the GPU was free');

  terminal.keys('C-d'); // end of input: the shell exits, and the job with it
  t.is(await terminal.exitCode(), 0, terminal.screen());
  t.like(await spool.waitForJob(id, ['done']), { exit_code: 0, interactive: true });
  const log = await spool.cli(['log', String(id)], { user: alice() });
  t.regex(log.stdout, /gpus=\[0\]/, 'the session is in the job log too');
  t.false(existsSync(socketOf(spool, id)), 'the socket went with the job');
});

test('only the owner reaches a session; Ctrl-C goes to the program; detach, attach and daemon restarts (SIGTERM, SIGKILL) leave the job running', async (t) => {
  const spool = await makeSpool(t, { gpus: [0, 1] });
  const daemon = spool.startDaemon();
  const first = tmuxAs(t, alice(), dopq(spool, 'shell', '--image', IMAGE, '--gpus', '0'));
  const id = Number((await first.waitFor(/attached to job (\d+)/))[1]);
  await spool.waitForJob(id, ['running']);

  // bob: neither dopq attach nor the socket itself.
  const refused = await spool.cli(['attach', String(id)], { user: bob() });
  t.is(refused.code, 77, 'whose job it is comes before whether there is a terminal'); // runCli gives no terminal
  const bobAttach = tmuxAs(t, bob(), dopq(spool, 'attach', String(id)));
  t.is(await bobAttach.exitCode(), 77, bobAttach.screen());
  t.regex(bobAttach.screen(), /only its owner or root may attach/);
  t.is(await connectAs(bob(), socketOf(spool, id)), 'EACCES'); // alice's own connect works: below, after the restart

  // Ctrl-C interrupts the program in the terminal, not the session.
  first.line('sleep 600');
  await first.waitFor(/sleep 600/);
  first.keys('C-c');
  first.line('echo "after-$((20+22))"');
  await first.waitFor(/after-42/);

  // Detach: the job goes on, and what it prints meanwhile is shown on attach.
  first.line('sleep 1; echo "printed-$((6*7))-while-detached"');
  first.keys('C-p', 'C-q');
  t.is(await first.exitCode(), 0, first.screen());
  t.regex(first.screen(), new RegExp(`detached from job ${id}`));
  t.is((await spool.job(id))!.state, 'running');
  const second = tmuxAs(t, alice(), dopq(spool, 'attach', String(id)));
  await second.waitFor(/printed-42-while-detached/);

  // The daemon stops: the client is told, the container runs on; the next daemon serves it again.
  await daemon.stop();
  t.is(await second.exitCode(), 75, second.screen());
  t.regex(second.screen(), /daemon stopped/);
  const next = spool.startDaemon();
  await spool.waitFor('the session socket again', async () => (await connectAs(alice(), socketOf(spool, id))) === 'connected');
  // A daemon killed outright leaves its socket behind, dead: the next one serves the job on a new one.
  await next.stop('SIGKILL');
  t.is(await connectAs(alice(), socketOf(spool, id)), 'ECONNREFUSED');
  spool.startDaemon(); // stopped by the teardown
  await spool.waitFor('the session socket after a crash', async () => (await connectAs(alice(), socketOf(spool, id))) === 'connected');
  const third = tmuxAs(t, alice(), dopq(spool, 'attach', String(id)));
  await third.waitFor(new RegExp(`attached to job ${id}`));
  third.line('echo "same-shell-$((40+2))"; exit 3');
  t.is(await third.exitCode(), 3, third.screen());
  t.like(await spool.waitForJob(id, ['failed']), { exit_code: 3, reason: 'exited' });
  t.is((await spool.job(id))!.attempt, 1, 'the same container all along');
});

test('a client that reads nothing, or vanishes, never stalls the daemon; the job goes on', async (t) => {
  const spool = await makeSpool(t, { gpus: [0, 1], limits: { log_size: '1m' } });
  const daemon = spool.startDaemon();
  // Pushed from a file: the job starts with nobody attached, printing without end.
  const id = await spool.push({ name: 'flood', command: 'yes dopq-flood-line', interactive: true, gpus: 0 }, alice());
  await spool.waitForJob(id, ['running']);
  await spool.waitFor('the session socket', async () => (await connectAs(alice(), socketOf(spool, id))) === 'connected');

  // A client that connects and never reads: the daemon drops it once it holds 1 MiB for it.
  const stalled = spawn(
    process.execPath,
    [
      '-e',
      `setInterval(() => {}, 1000); const s = require('net').connect(${JSON.stringify(socketOf(spool, id))}); s.on('connect', () => { s.pause(); console.log('connected'); });`,
    ],
    { uid: alice().uid, gid: alice().gid, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.teardown(() => stalled.kill('SIGKILL'));
  await once(stalled.stdout!, 'data');
  await spool.waitFor('the stalled client to be dropped', async () => /dropped an attached client that read nothing/.test(daemon.output()));
  stalled.kill('SIGKILL');
  // Connections held by the hundred to one's own session cost the daemon a few descriptors, not one each.
  const openFds = async () => (await readdir(`/proc/${daemon.child.pid}/fd`)).length;
  const before = await openFds();
  const hoarder = spawn(
    process.execPath,
    [
      '-e',
      `setInterval(() => {}, 1000); let n = 0; for (let i = 0; i < 200; i++) require('net').connect(${JSON.stringify(socketOf(spool, id))}).on('connect', () => { if (++n === 200) console.log('all'); }).on('error', () => { if (++n === 200) console.log('all'); }).on('close', () => {});`,
    ],
    { uid: alice().uid, gid: alice().gid, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.teardown(() => hoarder.kill('SIGKILL'));
  await once(hoarder.stdout!, 'data');
  const during = await openFds();
  t.true(during - before < 20, `the daemon held ${during - before} more descriptors with 200 connections open`);
  hoarder.kill('SIGKILL');
  // Meanwhile passes go on: another user's job runs to the end.
  const other = await spool.push({ name: 'other', command: 'echo other-ran', gpus: 1 }, bob());
  await spool.waitForJob(other, ['done']);

  // A client killed while attached leaves the job running, and the next attach works.
  const killed = tmuxAs(t, alice(), dopq(spool, 'attach', String(id)));
  await killed.waitFor(/dopq-flood-line/);
  const client = await runAs(alice(), '/usr/bin/pgrep', [
    '-u',
    String(alice().uid),
    '-f',
    `^${process.execPath} .* --config ${spool.configFile} attach ${id}$`,
  ]);
  const pids = client.stdout.trim().split('\n').filter(Boolean);
  t.is(pids.length, 1, client.stdout + client.stderr);
  for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
  await killed.waitFor(/terminal-exit=137/);
  t.is((await spool.job(id))!.state, 'running');
  const again = tmuxAs(t, alice(), dopq(spool, 'attach', String(id)));
  await again.waitFor(/dopq-flood-line/);
  again.keys('C-c'); // to yes, which ends by SIGINT: the job fails with 128+2, and attach with it
  t.is(await again.exitCode(), 130, again.screen());
  t.like(await spool.waitForJob(id, ['failed']), { exit_code: 130 });
});

test('the time limit ends an interactive job as any other; bad flags and a missing terminal queue nothing', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  for (const [args, pattern] of [
    [['shell'], /--image is required: this server sets no interactive.image/],
    [['shell', '--image', IMAGE], /^dopq: shell: standard input is not a terminal/],
    [['shell', '--image', IMAGE, '--gpus', 'two'], /not a whole number of GPUs/],
    [['shell', '--image', IMAGE, '--time', 'soon'], /not a duration/],
  ] as const) {
    const result = await spool.cli([...args], { user: alice() });
    t.is(result.code, 64, `${args.join(' ')}: ${result.stderr}`);
    t.regex(result.stderr, pattern);
  }
  const noJob = await spool.cli(['attach', '1'], { user: alice() });
  t.is(noJob.code, 66, 'no such job, whether or not there is a terminal');
  t.deepEqual((await spool.q()).jobs, [], 'nothing queued');

  spool.startDaemon();
  const terminal = tmuxAs(t, alice(), dopq(spool, 'shell', '--image', IMAGE, '--time', '3s'));
  const id = Number((await terminal.waitFor(/attached to job (\d+)/))[1]);
  // An interactive sh ignores SIGTERM: the stop's SIGKILL after stop_grace ends it (128+9).
  t.is(await terminal.exitCode(), 137, terminal.screen());
  t.regex(terminal.screen(), new RegExp(`job ${id} failed \\(time-limit\\)`));
  t.like(await spool.job(id), { state: 'failed', reason: 'time-limit' });
});
