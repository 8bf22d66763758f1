// The web dashboard served by a real daemon as an unprivileged child, loaded in Debian's Chromium
// (puppeteer-core drives it; nothing downloaded): the five panes list the jobs, a push shows up
// without a reload, it works behind a prefix-stripping proxy, and a screenshot is kept in
// test-artifacts/. Without the browser: read-only (405), bounded clients, names as text, and no
// job's environment in any answer.
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import puppeteer from 'puppeteer-core';
import { CLI } from '../helpers/cli.js';
import { freePort, servingProcess } from '../helpers/serving.js';
import { makeSpool } from '../helpers/spool.js';
import { alice, bob } from '../helpers/users.js';

/** Debian's chromium; the suite installs it (scripts/test.sh). */
const chromium = (): string => execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();

/** Where the screenshot goes: the checkout's test-artifacts/ (the suite may run from a copy). */
const artifacts = (): string =>
  path.join(process.env['DOPQ_CHECKOUT'] ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..'), 'test-artifacts');

/** A reverse proxy that serves the dashboard under /dopq/, stripping the prefix, as nginx would. */
async function prefixProxy(target: number): Promise<{ port: number; close(): void }> {
  const server = createHttpServer((request, response) => {
    const url = request.url ?? '';
    if (!url.startsWith('/dopq/')) {
      response.writeHead(404).end('outside /dopq/');
      return;
    }
    const upstream = httpRequest(
      { host: '127.0.0.1', port: target, method: request.method, path: url.slice('/dopq'.length), headers: request.headers },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** What an event stream sends up to its first view. */
async function firstEvents(base: string): Promise<string> {
  const controller = new AbortController();
  const response = await fetch(`${base}/events`, { signal: controller.signal });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let got = '';
  while (!/event: view\ndata: [^\n]*\n\n/.test(got)) {
    const { value, done } = await reader.read();
    if (done) break;
    got += decoder.decode(value, { stream: true });
  }
  controller.abort();
  return got;
}

const SECRET = 'dopq-web-secret-7f3a9c';
const NASTY = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">';

test('the dashboard: served as nobody, five panes in Chromium, a push live without reload, behind a proxy, read-only and bounded', async (t) => {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const base = `http://${address}`;
  const spool = await makeSpool(t, { gpus: [0, 1], web: { listen: address, user: 'nobody' }, telemetry: { interval: '1s' } });
  const daemon = spool.startDaemon();
  await spool.waitFor('the dashboard to answer', async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.status === 200);

  const server = await servingProcess('web', address);
  t.truthy(server, 'a process serves it');
  const nobody = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
  t.deepEqual(server!.uids, [nobody, nobody, nobody, nobody], 'real, effective, saved and fs uid are nobody');
  t.is(server!.ppid, daemon.child.pid!, "the daemon's child");

  const finished = await spool.push({ name: 'finished-one', gpus: 1, command: ['true'] }, alice());
  await spool.waitForJob(finished, ['done']);
  const running = await spool.push(
    { name: 'runner', gpus: 2, env: { API_TOKEN: SECRET }, command: ['sh', '-c', `echo ${SECRET}; sleep 600`] },
    alice(),
  );
  await spool.waitForJob(running, ['running']);
  const queued = await spool.push({ name: 'waiting-one', gpus: 1, command: ['true'] }, bob());
  await spool.waitForJob(queued, ['queued']);

  // Read-only: nothing but GET and HEAD, anywhere.
  for (const route of ['/', '/api/view', '/events', '/api/history', '/nowhere'])
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH'])
      t.is((await fetch(`${base}${route}`, { method, body: method === 'DELETE' ? null : 'x' })).status, 405, `${method} ${route}`);
  t.is((await fetch(`${base}/api/view`, { method: 'HEAD' })).status, 200);
  t.is((await fetch(`${base}/nowhere`)).status, 404);

  // The daemon's point a minute for the charts, readable by the unprivileged server.
  const history = (await (await fetch(`${base}/api/history`)).json()) as { window_seconds: number; points: { at: number }[] };
  t.is(history.window_seconds, 86400);
  t.true(history.points.length >= 1, 'a point from the start');
  t.is((await stat(path.join(spool.spoolDir, 'state', 'usage-history.jsonl'))).mode & 0o777, 0o644);

  // The same view as q --json; no job's environment or output in any answer.
  const view = (await (await fetch(`${base}/api/view`)).json()) as { jobs: { id: number; name: string }[] };
  t.deepEqual(
    view.jobs.map((job) => job.id),
    [finished, running, queued],
  );
  const bodies = await Promise.all(
    ['/', '/app.js', '/style.css', '/api/view', '/api/history', '/healthz'].map(async (route) => (await fetch(`${base}${route}`)).text()),
  );
  bodies.push(await firstEvents(base));
  t.true(bodies[3]!.includes('runner'), 'the running job is in the view');
  for (const body of bodies) t.false(body.includes(SECRET), 'the secret is in no answer');
  t.regex((await spool.cli(['log', String(running)])).stdout, new RegExp(SECRET), 'the log holds it: the check could have failed');

  // Clients that send half a header, and one that follows /events but never reads.
  const half: Socket = connect(port, '127.0.0.1', () => half.write('GET / HTTP/1.1\r\nHost: x\r\n'));
  const deaf: Socket = connect(port, '127.0.0.1', () => deaf.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`));
  deaf.pause();
  t.teardown(() => {
    half.destroy();
    deaf.destroy();
  });

  const browser = await puppeteer.launch({ executablePath: chromium(), headless: true, args: ['--no-sandbox', '--headless=new'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 1000 });
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(message.text());
  });
  const answer = await page.goto(`${base}/`);
  const headers = answer!.headers();
  t.regex(headers['content-security-policy'] ?? '', /script-src 'self'/);
  t.is(headers['x-content-type-options'], 'nosniff');
  t.is(headers['x-frame-options'], 'DENY');
  t.is(headers['referrer-policy'], 'no-referrer');

  const paneText = (pane: string) => page.$eval(`#${pane}`, (node) => node.textContent ?? '');
  await page.waitForFunction(
    () =>
      document.querySelector('#running-body')?.textContent?.includes('runner') &&
      document.querySelector('#queued-body')?.textContent?.includes('waiting-one') &&
      document.querySelector('#finished-body')?.textContent?.includes('finished-one') &&
      document.querySelector('#users-body')?.textContent?.includes('dopq-bob'),
    { timeout: 60_000 },
  );
  t.regex(await paneText('status'), /Engine\s*reachable/);
  t.regex(await paneText('status'), /GPUs\s*0 free, 2 held/);
  t.regex(await paneText('users'), /dopq-alice/);
  t.regex(await paneText('finished'), /finished-one\s*dopq-alice\s*done/);
  await page.waitForFunction(() => document.querySelector('#running-body')?.textContent?.match(/\d+ %/), { timeout: 60_000 });
  await page.waitForFunction(() => document.querySelector('#chart-users svg path.line'), { timeout: 60_000 });

  // A push shows up in the queued pane without a reload (the marker survives), the deaf client notwithstanding.
  await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));
  const pushedAt = Date.now();
  const live = await spool.push({ name: 'pushed-live', gpus: 1, command: ['true'] }, bob());
  const pushReturned = Date.now();
  await page.waitForFunction(() => document.querySelector('#queued-body')?.textContent?.includes('pushed-live'), {
    timeout: 60_000,
    polling: 50,
  });
  const shownAt = Date.now();
  t.is(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 1, 'no reload');
  t.log(`push ${live}: shown ${shownAt - pushedAt} ms after dopq push began, ${shownAt - pushReturned} ms after it returned`);

  await mkdir(artifacts(), { recursive: true });
  const screenshot = path.join(artifacts(), 'web-dashboard.png');
  await page.screenshot({ path: screenshot, fullPage: true });
  t.log(`screenshot: ${screenshot}`);
  t.deepEqual(pageErrors, [], 'no script errors, no CSP violations');

  // Behind a reverse proxy under /dopq/: every URL in the page is relative.
  const proxy = await prefixProxy(port);
  t.teardown(() => proxy.close());
  const proxied = await browser.newPage();
  await proxied.goto(`http://127.0.0.1:${proxy.port}/dopq/`);
  await proxied.waitForFunction(() => document.querySelector('#queued-body')?.textContent?.includes('pushed-live'), { timeout: 60_000 });
  t.is(await proxied.$eval('#live', (node) => node.textContent), 'live');

  // The server, not the client, ends the half-sent request.
  await (half.closed ? undefined : new Promise((resolve) => half.once('close', resolve)));
  t.pass('the half-sent request was closed by the server');
  t.is((await spool.cli(['rm', String(running)])).code, 0);
  await spool.waitForJob(running, ['cancelled']);
});

test('dopq web refuses root, and web.user root serves nothing while the daemon runs on', async (t) => {
  const port = await freePort();
  const spool = await makeSpool(t, { gpus: [0], web: { listen: `127.0.0.1:${port}`, user: 'root' } });
  const daemon = spool.startDaemon();
  await spool.waitFor('the refusal in the log', async () => /the web dashboard not served: web\.user root is root/.test(daemon.output()));
  const id = await spool.push({ name: 'runs', command: ['true'] });
  await spool.waitForJob(id, ['done']);
  const direct = await spool.cli(['web', '--listen', `127.0.0.1:${port}`]);
  t.is(direct.code, 77, direct.stderr);
  t.regex(direct.stderr, /refusing to serve the web dashboard as root/);
  t.regex(direct.stderr, /set web\.listen and let the daemon start it/);
});

test('dopq web in the foreground as a user: a job name with markup is shown as text and runs nothing', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const daemon = spool.startDaemon();
  const id = await spool.push({ name: 'plain-name', command: ['true'] }, alice());
  await spool.waitForJob(id, ['done']);
  await daemon.stop('SIGTERM');
  // Names in manifests are plain, but the page must not trust that: a state that says otherwise.
  const stateFile = path.join(spool.spoolDir, 'state', 'state.json');
  const state = JSON.parse(await readFile(stateFile, 'utf8')) as { jobs: { id: number; name: string }[] };
  state.jobs.find((job) => job.id === id)!.name = NASTY;
  await writeFile(stateFile, JSON.stringify(state));

  const port = await freePort();
  const user = alice();
  const web = spawn(process.execPath, [CLI, '--config', spool.configFile, 'web', '--listen', `127.0.0.1:${port}`], {
    uid: user.uid,
    gid: user.gid,
    cwd: '/',
    env: { PATH: process.env['PATH'], HOME: user.home },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  web.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  t.teardown(() => web.kill('SIGKILL'));
  const base = `http://127.0.0.1:${port}`;
  await spool.waitFor('dopq web to answer', async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.status === 200);
  t.regex(stderr, new RegExp(`serving http://127\\.0\\.0\\.1:${port}/ as uid ${user.uid}`));
  const view = (await (await fetch(`${base}/api/view`)).json()) as { jobs: { id: number; name: string }[] };
  t.is(view.jobs.find((job) => job.id === id)!.name, NASTY, 'the view carries the name as it is');

  // At most 64 clients follow /events; the next is told to come back, and one that leaves makes room.
  const followers = await Promise.all(
    Array.from({ length: 64 }, async () => {
      const controller = new AbortController();
      const response = await fetch(`${base}/events`, { signal: controller.signal });
      return { status: response.status, stop: () => controller.abort() };
    }),
  );
  t.teardown(() => followers.forEach((follower) => follower.stop()));
  t.true(
    followers.every((follower) => follower.status === 200),
    'the first 64 follow',
  );
  t.is((await fetch(`${base}/events`)).status, 503, 'the 65th is refused');
  t.is((await fetch(`${base}/api/view`)).status, 200, 'the page and its data are still served');
  followers.pop()!.stop();
  await spool.waitFor('a place to free up', async () => {
    const controller = new AbortController();
    const response = await fetch(`${base}/events`, { signal: controller.signal });
    controller.abort();
    return response.status === 200;
  });

  const browser = await puppeteer.launch({ executablePath: chromium(), headless: true, args: ['--no-sandbox', '--headless=new'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.goto(`${base}/`);
  await page.waitForFunction(
    (nasty: string) => document.querySelector('#finished-body')?.textContent?.includes(nasty),
    { timeout: 60_000 },
    NASTY,
  );
  t.is(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned), undefined, 'the name ran nothing');
  t.is(await page.$$eval('main script, main img', (nodes) => nodes.length), 0, 'and made no element');
  web.kill('SIGTERM');
  t.is(await new Promise((resolve) => web.once('exit', resolve)), 0, 'SIGTERM ends it cleanly');
});
