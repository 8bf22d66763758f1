// Notifications from the real daemon loop: its owner's webhook hears start and end, and a
// webhook that never answers holds up neither the job nor the next one.
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import test from 'ava';
import { startInMemoryDaemon } from './in-memory-daemon.js';

test('the daemon sends start and end to the job owner webhook; a hanging one delays nothing', async (t) => {
  const events: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      if (request.url === '/hang') return; // never answers
      const parsed = JSON.parse(body) as { event: string; job: { id: number; state: string } };
      events.push(`${parsed.job.id} ${parsed.event} ${parsed.job.state}`);
      response.end();
      server.emit('event');
    });
  });
  server.on('connection', (socket) => sockets.add(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const d = await startInMemoryDaemon(t, { notify: { webhook_allow: ['127.0.0.1'], timeout: '60s', retries: 0 } });
  const slow = await d.push({ name: 'slow', notify: { on: 'all', webhook: `http://127.0.0.1:${port}/hang` } });
  await d.engine.called('startCreated', slow);
  d.engine.exit(slow, 0);
  t.is((await d.waitForJob(slow, ['done', 'failed'])).state, 'done');
  const id = await d.push({ name: 'ok', notify: { on: ['start', 'end'], webhook: `http://127.0.0.1:${port}/hook` } });
  await d.engine.called('startCreated', id);
  d.engine.exit(id, 0);
  await d.waitForJob(id, ['done', 'failed']);
  while (events.length < 2) await once(server, 'event');
  t.deepEqual(events, [`${id} start running`, `${id} end done`]);
});
