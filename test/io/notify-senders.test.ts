// Notification channels against real servers on loopback and a real user's uid.
import test from 'ava';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { jobEvent } from '../../src/core/job/job-events.js';
import type { JobRecord, JobSpec } from '../../src/core/job/job.js';
import { allowList, postWebhook, runCommand, sendEmail, webhookAddressAllowed } from '../../src/io/notify/senders.js';
import { notificationsSettled, notifyJobEvent } from '../../src/daemon/notify/notifier.js';
import type { DaemonContext } from '../../src/daemon/context.js';
import { testConfig } from '../core/fixtures.js';
import { alice } from '../helpers/users.js';

const record = (uid: number): JobRecord => ({
  id: 3,
  user: 'dopq-alice',
  uid,
  name: 'train',
  image: 'x',
  gpus_requested: 0,
  gpus: [],
  state: 'done',
  submitted_at: 1,
  started_at: 2,
  finished_at: 3,
  exit_code: 0,
  reason: 'exited',
  time_limit: 60,
});

async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

test('a webhook on an allowed loopback address gets the event as JSON', async (t) => {
  const bodies: string[] = [];
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      bodies.push(`${request.method} ${request.headers['content-type']} ${body}`);
      response.end('ok');
    });
  });
  const port = await listen(server);
  t.teardown(() => server.close());
  const config = testConfig('notify: {webhook_allow: [127.0.0.0/8]}').notify;
  await postWebhook(`http://127.0.0.1:${port}/hook`, jobEvent('end', record(1001)), config);
  await postWebhook(`http://localhost:${port}/hook`, jobEvent('end', record(1001)), config);
  t.is(bodies.length, 2);
  t.regex(bodies[0]!, /^POST application\/json \{"event":"end","job":\{"id":3,"name":"train","user":"dopq-alice"/);
});

test('a webhook to loopback is refused unless allowed, by literal or by name, before any request', async (t) => {
  let requests = 0;
  const server = http.createServer((_request, response) => {
    requests++;
    response.end();
  });
  const port = await listen(server);
  t.teardown(() => server.close());
  const config = testConfig().notify;
  await t.throwsAsync(postWebhook(`http://127.0.0.1:${port}/`, jobEvent('end', record(1001)), config), { message: /not allowed/ });
  await t.throwsAsync(postWebhook(`http://localhost:${port}/`, jobEvent('end', record(1001)), config), { message: /not allowed/ });
  await t.throwsAsync(postWebhook(`http://169.254.169.254/`, jobEvent('end', record(1001)), config), { message: /not allowed/ });
  t.is(requests, 0);
});

test('a webhook that answers an error or hangs fails within the timeout', async (t) => {
  const sockets = new Set<net.Socket>();
  const hanging = http.createServer(() => {}); // never answers
  hanging.on('connection', (socket) => sockets.add(socket));
  const failing = http.createServer((_request, response) => {
    response.statusCode = 500;
    response.end();
  });
  const [hangPort, failPort] = [await listen(hanging), await listen(failing)];
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    hanging.close();
    failing.close();
  });
  const config = testConfig('notify: {webhook_allow: [127.0.0.1], timeout: 1s}').notify;
  await t.throwsAsync(postWebhook(`http://127.0.0.1:${failPort}/`, jobEvent('fail', record(1001)), config), { message: /HTTP 500/ });
  await t.throwsAsync(postWebhook(`http://127.0.0.1:${hangPort}/`, jobEvent('fail', record(1001)), config), { message: /more than 1s/ });
});

test('e-mail through an SMTP server reaches it with the job in the body', async (t) => {
  let transcript = '';
  const sink = net.createServer((socket) => {
    let data = false;
    socket.write('220 sink ESMTP\r\n');
    socket.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      transcript += text;
      if (data) {
        if (transcript.includes('\r\n.\r\n')) {
          data = false;
          socket.write('250 queued\r\n');
        }
        return;
      }
      for (const line of text.split('\r\n').filter(Boolean)) {
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') socket.write('250 sink\r\n');
        else if (verb === 'DATA') {
          data = true;
          socket.write('354 go\r\n');
        } else if (verb === 'QUIT') socket.end('221 bye\r\n');
        else socket.write('250 ok\r\n');
      }
    });
  });
  const port = await listen(sink);
  t.teardown(() => sink.close());
  const config = testConfig(`notify: {smtp: "smtp://127.0.0.1:${port}", from: dopq@example.org}`).notify;
  const owner = { uid: alice().uid, gid: alice().gid, home: '/' };
  await sendEmail('alice@example.org', jobEvent('end', record(alice().uid)), owner, config);
  t.regex(transcript, /RCPT TO:<alice@example.org>/i);
  t.regex(transcript, /Subject: dopq job 3 \(train\): done/);
});

test('a command runs as the job owner with the event on stdin, never as root', async (t) => {
  const user = alice();
  const dir = mkdtempSync(path.join(tmpdir(), 'dopq-notify-'));
  chmodSync(dir, 0o777);
  const script = path.join(dir, 'hook.sh');
  writeFileSync(script, `#!/bin/sh\n{ id -u; echo "$DOPQ_EVENT $DOPQ_JOB_ID"; cat; } > ${dir}/out\n`, { mode: 0o755 });
  const config = testConfig('notify: {channels: [command]}').notify;
  await runCommand([script], jobEvent('end', record(user.uid)), { uid: user.uid, gid: user.gid, home: '/' }, config);
  const [uid, line, json] = readFileSync(path.join(dir, 'out'), 'utf8').split('\n');
  t.is(Number(uid), user.uid);
  t.is(line, 'end 3');
  t.is((JSON.parse(json!) as { job: { id: number } }).job.id, 3);
  await t.throwsAsync(runCommand([script], jobEvent('end', record(0)), { uid: 0, gid: 0, home: '/' }, config), { message: /never/ });
});

test('e-mail through sendmail runs it as the owner, the address after --, the message on stdin', async (t) => {
  const user = alice();
  const dir = mkdtempSync(path.join(tmpdir(), 'dopq-sendmail-'));
  chmodSync(dir, 0o777);
  const sendmail = path.join(dir, 'sendmail');
  writeFileSync(sendmail, `#!/bin/sh\n{ id -u; echo "$*"; cat; } > ${dir}/out\n`, { mode: 0o755 });
  const config = testConfig(`notify: {sendmail: ${sendmail}}`).notify;
  await sendEmail('alice@example.org', jobEvent('end', record(user.uid)), { uid: user.uid, gid: user.gid, home: '/' }, config);
  const [uid, args, ...message] = readFileSync(path.join(dir, 'out'), 'utf8').split('\n');
  t.is(Number(uid), user.uid);
  t.is(args, '-i -- alice@example.org');
  t.true(message.includes('To: alice@example.org'));
  t.true(message.includes('Subject: dopq job 3 (train): done'));
});

test('a webhook that drips its answer forever is cut off at the timeout', async (t) => {
  const sockets = new Set<net.Socket>();
  const drip = http.createServer((_request, response) => {
    response.writeHead(200);
    const timer = setInterval(() => response.write('.'), 100);
    response.on('close', () => clearInterval(timer));
  });
  drip.on('connection', (socket) => sockets.add(socket));
  const port = await listen(drip);
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    drip.close();
  });
  const config = testConfig('notify: {webhook_allow: [127.0.0.1], timeout: 1s}').notify;
  await t.throwsAsync(postWebhook(`http://127.0.0.1:${port}/`, jobEvent('end', record(1001)), config), { message: /more than 1s/ });
});

test('notifyJobEvent returns at once while a webhook hangs, retries, then logs the failure', async (t) => {
  const sockets = new Set<net.Socket>();
  let attempts = 0;
  const hanging = http.createServer(() => attempts++);
  hanging.on('connection', (socket) => sockets.add(socket));
  const port = await listen(hanging);
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    hanging.close();
  });
  const config = testConfig('notify: {webhook_allow: [127.0.0.1], timeout: 1s, retries: 1}');
  const job = record(alice().uid);
  const spec = {
    id: 3,
    uid: job.uid,
    user: job.user,
    image: 'x',
    manifest: { notify: { on: ['end'], webhook: `http://127.0.0.1:${port}/` } },
  } as unknown as JobSpec;
  const errors: string[] = [];
  const ctx = {
    config,
    specs: new Map([[3, spec]]),
    log: { info: () => {}, error: (message: string) => errors.push(message) },
  } as unknown as DaemonContext;
  notifyJobEvent(ctx, jobEvent('end', job));
  t.is(attempts, 0); // it returned before anything was sent
  // Another user's job with the same id never uses this spec.
  notifyJobEvent(ctx, jobEvent('end', { ...job, uid: job.uid + 1 }));
  await notificationsSettled();
  t.is(attempts, 2);
  t.is(errors.length, 1);
  t.regex(errors[0]!, /by webhook failed/);
});

test('at most 8 attempts go at once, all jobs together; the rest wait their turn and still go', async (t) => {
  let most = 0;
  let served = 0;
  let received = 0;
  const held: http.ServerResponse[] = [];
  const server = http.createServer((request, response) => {
    request.resume();
    received++;
    held.push(response);
    most = Math.max(most, held.length);
    // Held until as many as may come at once are here (or the last ones): a ninth would show up meanwhile.
    if (held.length === 8 || received === 20)
      setTimeout(() => {
        for (const waiting of held.splice(0)) {
          served++;
          waiting.end();
        }
      }, 100);
  });
  const port = await listen(server);
  t.teardown(() => server.close());
  const config = testConfig('notify: {webhook_allow: [127.0.0.1], retries: 0}');
  // Ten users' jobs (one user has at most 4 attempts at once: the next test).
  const uidOf = (id: number) => 5000 + (id % 10);
  const specs = new Map(
    Array.from({ length: 20 }, (_, i) => [
      i + 1,
      { id: i + 1, uid: uidOf(i + 1), user: 'u', image: 'x', manifest: { notify: { on: ['end'], webhook: `http://127.0.0.1:${port}/` } } },
    ]),
  );
  const ctx = { config, specs, log: { info: () => {}, error: () => {} } } as unknown as DaemonContext;
  for (let id = 1; id <= 20; id++) notifyJobEvent(ctx, jobEvent('end', { ...record(uidOf(id)), id }));
  await notificationsSettled();
  t.is(served, 20);
  t.true(most <= 8, String(most));
});

/** A context whose jobs 1..count belong to `uid`, each asking for `webhook` on end. */
function hookSpecs(specs: Map<number, unknown>, first: number, count: number, uid: number, webhook: string): void {
  for (let id = first; id < first + count; id++)
    specs.set(id, { id, uid, user: `u${uid}`, image: 'x', manifest: { notify: { on: ['end'], webhook } } });
}

// Serial: the notifier's limits are the process's, shared by every test in this file.
test.serial("a user whose webhook hangs holds at most 4 of the 8 slots: another user's event goes meanwhile", async (t) => {
  const sockets = new Set<net.Socket>();
  let hung = 0;
  let closing = false;
  const hanging = http.createServer(() => hung++);
  hanging.on('connection', (socket) => (closing ? socket.destroy() : sockets.add(socket)));
  const slowPort = await listen(hanging);
  let delivered!: () => void;
  const other = new Promise<void>((resolve) => (delivered = resolve));
  const fine = http.createServer((request, response) => {
    request.resume();
    response.end('ok');
    delivered();
  });
  const finePort = await listen(fine);
  t.teardown(() => {
    hanging.close();
    fine.close();
  });
  // A timeout far beyond the test's: before, the other user's event waited behind the hanging ones.
  const config = testConfig('notify: {webhook_allow: [127.0.0.1], retries: 0, timeout: 1h}');
  const specs = new Map<number, unknown>();
  hookSpecs(specs, 1, 20, 6001, `http://127.0.0.1:${slowPort}/`);
  hookSpecs(specs, 100, 1, 6002, `http://127.0.0.1:${finePort}/`);
  const ctx = { config, specs, log: { info: () => {}, error: () => {} } } as unknown as DaemonContext;
  for (let id = 1; id <= 20; id++) notifyJobEvent(ctx, jobEvent('end', { ...record(6001), id }));
  notifyJobEvent(ctx, jobEvent('end', { ...record(6002), id: 100 }));
  await other; // before, it waited behind the hanging user's attempts, which held all 8 slots
  t.true(hung <= 4, String(hung)); // the hanging user's attempts that went: its 4 slots at most
  closing = true; // the hanging ones fail now, and the rest of that user's in turn
  for (const socket of sockets) socket.destroy();
  await notificationsSettled();
});

test.serial("one user's flood of events is capped at its share: another user's event is still taken and sent", async (t) => {
  const sockets = new Set<net.Socket>();
  let closing = false;
  const hanging = http.createServer(() => {});
  hanging.on('connection', (socket) => (closing ? socket.destroy() : sockets.add(socket)));
  const slowPort = await listen(hanging);
  let received = 0;
  const fine = http.createServer((request, response) => {
    request.resume();
    response.end('ok');
    received++;
  });
  const finePort = await listen(fine);
  t.teardown(() => {
    hanging.close();
    fine.close();
  });
  const config = testConfig('notify: {webhook_allow: [127.0.0.1], retries: 0, timeout: 1h}');
  const specs = new Map<number, unknown>();
  hookSpecs(specs, 1, 1000, 6003, `http://127.0.0.1:${slowPort}/`);
  hookSpecs(specs, 2000, 1, 6004, `http://127.0.0.1:${finePort}/`);
  const errors: string[] = [];
  const ctx = { config, specs, log: { info: () => {}, error: (message: string) => errors.push(message) } } as unknown as DaemonContext;
  // Before, these 1000 filled the daemon's whole allowance and the other user's event was dropped.
  for (let id = 1; id <= 1000; id++) notifyJobEvent(ctx, jobEvent('end', { ...record(6003), id }));
  notifyJobEvent(ctx, jobEvent('end', { ...record(6004), id: 2000 }));
  t.is(errors.filter((message) => /this user's notifications already under way; this one is dropped/.test(message)).length, 900);
  // The hanging ones fail now and as they connect; the other user's goes through.
  closing = true;
  for (const socket of sockets) socket.destroy();
  await notificationsSettled();
  t.is(received, 1);
});

test('public IPv4 addresses are allowed (an IPv4-mapped rule once refused them all); inside ones are refused in their IPv6 forms too', (t) => {
  const none = allowList([]);
  for (const inside of [
    '::1',
    '::',
    '::ffff:127.0.0.1',
    '::127.0.0.1',
    '::7f00:1',
    '::a00:1',
    '64:ff9b::10.0.0.1',
    '64:ff9b:1::a00:1',
    'fe80::1',
    'fd00::1',
  ])
    t.false(webhookAddressAllowed(inside, none), inside);
  for (const outside of ['2001:db8::1', '2606:4700::1111', '93.184.216.34']) t.true(webhookAddressAllowed(outside, none), outside);
  t.true(webhookAddressAllowed('::1', allowList(['::1'])));
});
