// /metrics served by a real daemon on loopback, as an unprivileged process, read by promtool;
// a client that sends nothing stalls no pass; `dopq report` agrees with the jobs' own times,
// before and after they are pruned from the history.
import { execFile } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { promisify } from 'node:util';
import test from 'ava';
import type { Report } from '../../src/core/report/report.js';
import { freePort, servingProcess } from '../helpers/serving.js';
import { makeSpool } from '../helpers/spool.js';
import { alice, bob } from '../helpers/users.js';

const run = promisify(execFile);

/** promtool's verdict on an exposition (it lints too: names, units, HELP). */
async function promtool(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile('promtool', ['check', 'metrics'], (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
    );
    child.stdin!.end(text);
  });
}

test('the daemon serves /metrics on loopback as nobody; promtool parses it; a silent client stalls no pass', async (t) => {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const spool = await makeSpool(t, { gpus: [0, 1], metrics: { listen: address, user: 'nobody' } });
  const daemon = spool.startDaemon();
  const url = `http://${address}/metrics`;
  const scrape = async () => {
    const response = await fetch(url).catch(() => undefined);
    return response?.status === 200 ? { type: response.headers.get('content-type'), text: await response.text() } : undefined;
  };
  await spool.waitFor('/metrics to answer', scrape);

  const server = await servingProcess('metrics', address);
  t.truthy(server, 'a process serves it');
  const nobody = Number((await run('id', ['-u', 'nobody'])).stdout.trim());
  t.deepEqual(server!.uids, [nobody, nobody, nobody, nobody], 'real, effective, saved and fs uid are nobody');
  t.is(server!.ppid, daemon.child.pid!, "the daemon's child");

  // A client that connects and sends nothing, one that sends half a request, and one with a body.
  const silent: Socket = connect(port, '127.0.0.1');
  const half: Socket = connect(port, '127.0.0.1', () => half.write('GET /metrics HTTP/1.1\r\nHost: x\r\n'));
  t.teardown(() => {
    silent.destroy();
    half.destroy();
  });
  const id = await spool.push({ name: 'first', command: ['true'] }, alice());
  await spool.waitForJob(id, ['done']);
  const second = await spool.push({ name: 'second', command: ['sleep', '600'] }, bob());
  await spool.waitForJob(second, ['running']);

  const scraped = (await scrape())!;
  t.is(scraped.type, 'text/plain; version=0.0.4; charset=utf-8');
  const verdict = await promtool(scraped.text);
  t.is(verdict.code, 0, verdict.output);
  t.regex(scraped.text, /^dopq_jobs\{state="done",user="dopq-alice"\} 1$/m);
  t.regex(scraped.text, /^dopq_jobs\{state="running",user="dopq-bob"\} 1$/m);
  t.regex(scraped.text, /^dopq_gpus\{state="held"\} 1$/m);
  t.regex(scraped.text, /^dopq_gpus\{state="free"\} 1$/m);
  t.regex(scraped.text, /^dopq_engine_reachable 1$/m);
  t.regex(scraped.text, /^dopq_job_wait_seconds_count 2$/m);
  t.regex(scraped.text, /^dopq_last_pass_timestamp_seconds \d/m);

  // Only GET and HEAD of /metrics; a bad request line is answered 400 and costs nothing else.
  t.is((await fetch(`http://${address}/`)).status, 404);
  t.is((await fetch(url, { method: 'POST', body: 'x' })).status, 405);
  // DNS rebinding: a page whose name now resolves to loopback still sends its own Host.
  const rebound = await rawRequest(port, 'GET /metrics HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n');
  t.regex(rebound, /^HTTP\/1\.1 421/);
  t.regex(await rawRequest(port, 'GET /metrics HTTP/1.1\r\nHost: localhost:1\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200/);
  const garbage = await rawRequest(port, '\x00\x01 nonsense\r\n\r\n');
  t.regex(garbage, /^HTTP\/1\.1 400/);

  // `dopq metrics` as a user prints the same families, and promtool takes them.
  const printed = await spool.cli(['metrics'], { user: alice() });
  t.is(printed.code, 0, printed.stderr);
  t.is((await promtool(printed.stdout)).code, 0);
  t.regex(printed.stdout, /^dopq_jobs\{state="running",user="dopq-bob"\} 1$/m);

  // The server, not the client, ends the silent and the half-sent requests (headers timeout).
  await Promise.all([silent, half].map((socket) => (socket.closed ? undefined : new Promise((resolve) => socket.once('close', resolve)))));
  t.pass('both were closed by the server');
  t.is((await spool.cli(['rm', String(second)])).code, 0);
  await spool.waitForJob(second, ['cancelled']);
});

test('/metrics is refused as root: metrics.user root serves nothing and the daemon runs on', async (t) => {
  const port = await freePort();
  const spool = await makeSpool(t, { gpus: [0], metrics: { listen: `127.0.0.1:${port}`, user: 'root' } });
  const daemon = spool.startDaemon();
  await spool.waitFor('the refusal in the log', async () => /\/metrics not served: metrics\.user root is root/.test(daemon.output()));
  const id = await spool.push({ name: 'runs', command: ['true'] });
  await spool.waitForJob(id, ['done']);
  t.is(
    await fetch(`http://127.0.0.1:${port}/metrics`).then(
      (r) => r.status,
      () => 'refused',
    ),
    'refused',
  );
  const direct = await spool.cli(['metrics', '--serve', `127.0.0.1:${port}`]);
  t.is(direct.code, 77, 'dopq metrics --serve as root exits noperm');
});

test('report agrees with the jobs’ own times, and still does after the history is cleared', async (t) => {
  const spool = await makeSpool(t, { gpus: [0, 1, 2] });
  spool.startDaemon();
  const ids = [
    await spool.push({ name: 'a1', gpus: 2, command: ['sleep', '1'] }, alice()),
    await spool.push({ name: 'a2', gpus: 1, command: ['sh', '-c', 'exit 3'] }, alice()),
    await spool.push({ name: 'b1', gpus: 1, command: ['sleep', '2'] }, bob()),
  ];
  for (const id of ids) await spool.waitForJob(id, ['done', 'failed']);
  const jobs = (await spool.q()).jobs.filter((job) => ids.includes(job.id));
  const expected = new Map<string, { gpuHours: number; waits: number[] }>();
  for (const job of jobs) {
    const entry = expected.get(job.user) ?? { gpuHours: 0, waits: [] };
    entry.gpuHours += (job.gpus_requested * (Date.parse(job.finished_at!) - Date.parse(job.started_at!))) / 3_600_000;
    entry.waits.push((Date.parse(job.started_at!) - Date.parse(job.submitted_at)) / 1000);
    expected.set(job.user, entry);
  }
  const check = async (when: string) => {
    const result = await spool.cli(['report', '--json']);
    t.is(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as Report;
    for (const [user, want] of expected) {
      const row = report.rows.find((r) => r.key === user)!;
      t.true(Math.abs(row.gpu_hours - want.gpuHours) < 1e-9, `${when}: ${user} GPU-hours ${row.gpu_hours} vs ${want.gpuHours}`);
      t.true(
        Math.abs(row.wait_mean_seconds! - want.waits.reduce((a, b) => a + b, 0) / want.waits.length) < 1e-9,
        `${when}: ${user} mean wait`,
      );
      t.is(row.wait_p95_seconds, Math.max(...want.waits), `${when}: ${user} p95 wait of ≤ 2 jobs is the longest`);
      t.is(row.gpu_util_percent, null, 'no telemetry: unknown');
    }
    t.deepEqual(report.rows.find((r) => r.key === 'dopq-alice')!.jobs, { done: 1, failed: 1, cancelled: 0, rejected: 0 });
    t.deepEqual(report.rows.find((r) => r.key === 'dopq-bob')!.jobs, { done: 1, failed: 0, cancelled: 0, rejected: 0 });
    const csv = await spool.cli(['report', '--csv', '--by', 'day']);
    t.regex(csv.stdout, /^key,gpu_hours,/);
    return report;
  };
  const before = await check('in the state');
  t.is((await spool.cli(['history', 'clear'])).code, 0);
  await spool.waitFor('the jobs to leave the state', async () => (await spool.q()).jobs.every((job) => !ids.includes(job.id)));
  const after = await check('after the history is cleared');
  t.deepEqual(after.total.jobs, before.total.jobs);
  const text = await spool.cli(['report'], { user: bob() });
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, /dopq-alice\s+[\d.]+\s+1\s+1\s+0\s+0/);
});

/** What the server answers to `bytes` sent as they are, until it closes the connection. */
function rawRequest(port: number, bytes: string): Promise<string> {
  return new Promise<string>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    let got = '';
    socket.on('data', (chunk) => (got += chunk.toString()));
    socket.on('close', () => resolve(got));
  });
}
