// Notifications from a real daemon as root, for real users: alice's command runs as alice and
// her mail reaches an SMTP sink on loopback; bob's webhook hears only bob's job.
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { makeSpool } from '../helpers/spool.js';
import { alice, bob } from '../helpers/users.js';

async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

/** An SMTP sink that keeps each message's text. */
function smtpSink(messages: string[]): net.Server {
  return net.createServer((socket) => {
    let data: string | undefined;
    socket.write('220 sink\r\n');
    socket.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split(/(?<=\r\n)/)) {
        if (data !== undefined) {
          if (line === '.\r\n') {
            messages.push(data);
            data = undefined;
            socket.write('250 queued\r\n');
          } else data += line;
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'DATA') {
          data = '';
          socket.write('354 go\r\n');
        } else if (verb === 'QUIT') socket.end('221 bye\r\n');
        else if (line.trim() !== '') socket.write('250 ok\r\n');
      }
    });
  });
}

test("alice's command runs as alice, her mail reaches the SMTP server, bob's webhook hears only bob", async (t) => {
  const mails: string[] = [];
  const sink = smtpSink(mails);
  const hooks: { event: string; job: { id: number; user: string } }[] = [];
  const webhook = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      hooks.push(JSON.parse(body) as (typeof hooks)[number]);
      response.end();
    });
  });
  const [smtpPort, hookPort] = [await listen(sink), await listen(webhook)];
  t.teardown(() => {
    sink.close();
    webhook.close();
  });
  const spool = await makeSpool(t, {
    notify: {
      channels: ['webhook', 'email', 'command'],
      smtp: `smtp://127.0.0.1:${smtpPort}`,
      webhook_allow: ['127.0.0.1'],
      timeout: '20s',
    },
  });
  const script = path.join(spool.shared, 'hook.sh');
  const out = path.join(spool.shared, 'alice-events');
  await writeFile(script, `#!/bin/sh\necho "$(id -u) $DOPQ_EVENT $DOPQ_JOB_ID" >> ${out}\n`, { mode: 0o755 });
  const a = alice();
  const b = bob();
  spool.startDaemon();
  const mine = await spool.push(
    { name: 'mine', command: 'exit 4', notify: { on: 'all', command: [script], email: 'alice@example.org' } },
    a,
  );
  const his = await spool.push(
    { name: 'his', command: 'true', notify: { on: ['start', 'end'], webhook: `http://127.0.0.1:${hookPort}/b` } },
    b,
  );
  await spool.waitForJob(mine, ['failed']);
  await spool.waitForJob(his, ['done']);
  const lines = await spool.waitFor('alice command ran twice', async () => {
    const text = await readFile(out, 'utf8').catch(() => '');
    const got = text.trim().split('\n').filter(Boolean);
    return got.length >= 2 && got;
  });
  t.deepEqual([...lines].sort(), [`${a.uid} fail ${mine}`, `${a.uid} start ${mine}`]);
  await spool.waitFor('two mails', async () => mails.length >= 2);
  t.true(mails.some((mail) => mail.includes(`Subject: dopq job ${mine} (mine): failed`)));
  t.true(mails.every((mail) => !mail.includes('his')));
  await spool.waitFor('two webhook calls', async () => hooks.length >= 2);
  t.deepEqual(hooks.map((hook) => `${hook.job.id} ${hook.job.user} ${hook.event}`).sort(), [
    `${his} dopq-bob end`,
    `${his} dopq-bob start`,
  ]);
});
