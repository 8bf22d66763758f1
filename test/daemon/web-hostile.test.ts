// `dopq web` against hostile clients and bad days, without a daemon: a foreground server as a
// user on a fresh spool, asked with the Host a DNS-rebinding page would send, on a damaged
// state, and full of event clients while a page (Chromium) waits for a place.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'node:http';
import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawn as spawnProcess } from 'node:child_process';
import puppeteer from 'puppeteer-core';
import { CLI } from '../helpers/cli.js';
import { freePort } from '../helpers/serving.js';
import { makeSpool, type TestSpool } from '../helpers/spool.js';
import { alice, bob } from '../helpers/users.js';

/** `dopq web` in the foreground as alice on the spool, answering: its port, base URL and what it printed so far. */
async function foregroundWeb(t: ExecutionContext, spool: TestSpool): Promise<{ port: number; base: string; stderr: () => string }> {
  const port = await freePort();
  const user = alice();
  const web = spawnProcess(process.execPath, [CLI, '--config', spool.configFile, 'web', '--listen', `127.0.0.1:${port}`], {
    uid: user.uid,
    gid: user.gid,
    cwd: '/',
    env: { PATH: process.env['PATH'], HOME: user.home },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let printed = '';
  web.stderr!.on('data', (chunk: Buffer) => (printed += chunk.toString()));
  t.teardown(() => web.kill('SIGKILL'));
  const base = `http://127.0.0.1:${port}`;
  await spool.waitFor('dopq web to answer', async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.status === 200);
  return { port, base, stderr: () => printed };
}

/** One GET with this Host header (fetch will not send a Host of our choosing): its status. */
function getWithHost(port: number, route: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const asked = request({ host: '127.0.0.1', port, path: route, headers: { Host: host } }, (answer) => {
      answer.resume();
      answer.destroy(); // /events would stream on
      resolve(answer.statusCode ?? 0);
    });
    asked.on('error', reject);
    asked.end();
  });
}

test('dopq web as a user shows her pending job as q shows it to others: no name before the daemon reads it', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const id = await spool.push({ name: 'private-pending-name', command: ['true'] }, alice()); // no daemon: it stays in the intake
  const { base } = await foregroundWeb(t, spool);
  const asBob = (await spool.q(bob())).jobs.find((job) => job.id === id);
  t.truthy(asBob, 'bob sees the pending job');
  t.not(asBob!.name, 'private-pending-name', 'but not its name: the check could fail');
  const view = (await (await fetch(`${base}/api/view`)).json()) as {
    jobs: { id: number; name: string; gpus_requested: number }[];
  };
  const shown = view.jobs.find((job) => job.id === id);
  t.deepEqual(
    { name: shown?.name, gpus_requested: shown?.gpus_requested },
    { name: asBob!.name, gpus_requested: asBob!.gpus_requested },
    "alice's dashboard shows what bob's q shows",
  );
  const body = await (await fetch(`${base}/api/view`)).text();
  t.false(body.includes('private-pending-name'));
});

test('dopq web on loopback answers only Host localhost or an address: a DNS-rebinding page reads nothing', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const { port } = await foregroundWeb(t, spool);

  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'localhost', `[::1]:${port}`, `10.1.2.3:${port}`, `LocalHost:${port}`])
    t.is(await getWithHost(port, '/api/view', host), 200, `Host: ${host}`);
  for (const host of [`evil.example:${port}`, 'evil.example', `localhost.evil.example:${port}`, `127.0.0.1.evil.example:${port}`])
    for (const route of ['/', '/app.js', '/api/view', '/api/history', '/events', '/healthz'])
      t.is(await getWithHost(port, route, host), 421, `Host: ${host} ${route}`);
});

test('dopq web on a damaged state: 503, and the error logged once, not once a request or a poll', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  await writeFile(path.join(spool.spoolDir, 'state', 'state.json'), '{damaged');
  const { base, stderr } = await foregroundWeb(t, spool);
  const follower = new AbortController();
  t.teardown(() => follower.abort());
  t.is((await fetch(`${base}/events`, { signal: follower.signal })).status, 200, 'a page follows (its feed polls the spool)');
  for (let i = 0; i < 6; i += 1) t.is((await fetch(`${base}/api/view`)).status, 503);
  await spool.waitFor('the error in the log', async () => /damaged/.test(stderr()));
  t.is(stderr().match(/damaged/g)?.length, 1, stderr());
});

test('a page refused by a full /events (or a proxy while the server restarts) follows again once there is room', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const { base } = await foregroundWeb(t, spool);
  const followers = await Promise.all(
    Array.from({ length: 64 }, async () => {
      const controller = new AbortController();
      const response = await fetch(`${base}/events`, { signal: controller.signal });
      return { status: response.status, stop: () => controller.abort() };
    }),
  );
  t.teardown(() => followers.forEach((follower) => follower.stop()));
  t.true(followers.every((follower) => follower.status === 200));

  const chromium = execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
  const browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox', '--headless=new'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  const refused = page.waitForResponse((answer) => answer.url().endsWith('/events') && answer.status() === 503);
  await page.goto(`${base}/`);
  await refused;
  followers.pop()!.stop();
  await page.waitForFunction(() => document.querySelector('#live')?.textContent === 'live', { timeout: 60_000 });
  t.pass('the page follows again');
});
