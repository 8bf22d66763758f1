// `dopq doctor` against a real spool and the real engine, and against an engine that is not
// there; and push refusing what this host cannot give. No GPU here: the test config lists GPUs
// with gpu_assignment env, so the nvidia checks warn rather than fail.
import { availableParallelism } from 'node:os';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import type { Check } from '../../src/core/doctor/checks.js';
import { runCli } from '../helpers/cli.js';
import { IMAGE, makeSpool } from '../helpers/spool.js';
import { alice } from '../helpers/users.js';

const line = (stdout: string, name: string) => stdout.split('\n').find((l) => new RegExp(`^\\w+ +${name} `).test(l)) ?? '';

test('doctor on a real spool and engine: one line a check, no fail, exit 0; --json has the same checks', async (t) => {
  const spool = await makeSpool(t, { admins: ['root', alice().name] });
  const result = await spool.cli(['doctor']);
  t.is(result.code, 0, result.stdout + result.stderr);
  t.is(result.stderr, '');
  t.regex(line(result.stdout, 'config'), new RegExp(`^ok +config +${spool.configFile} \\(by --config\\): valid$`));
  t.regex(line(result.stdout, 'spool'), /^ok +spool /);
  t.regex(line(result.stdout, 'engine'), /^ok +engine +Docker \S+ at \/var\/run\/docker.sock, API 1\.\d+$/);
  t.regex(line(result.stdout, 'gpus'), /^(warn|ok) +gpus /, 'no nvidia-smi here: a warn, not a crash');
  t.regex(line(result.stdout, 'host'), /^ok +host +defaults and limits fit the engine's \d+ CPUs? and/);
  t.regex(line(result.stdout, 'users'), /^ok +users +the config's 2 users and 0 groups exist$/);
  t.regex(line(result.stdout, 'daemon'), /^warn +daemon +not running, no pass recorded$/);
  t.notRegex(result.stdout, /^fail/m);

  const json = await spool.cli(['doctor', '--json']);
  t.is(json.code, 0);
  const checks = JSON.parse(json.stdout) as Check[];
  t.deepEqual(
    checks.map((c) => c.name),
    ['config', 'spool', 'engine', 'nvidia-runtime', 'gpus', 'host', 'disk-spool', 'disk-docker', 'users', 'daemon'],
  );
  for (const c of checks) t.true(['ok', 'warn', 'fail'].includes(c.status), `${c.name}: ${c.status}`);
});

test('doctor sees the running daemon and its last pass', async (t) => {
  const spool = await makeSpool(t);
  const daemon = spool.startDaemon();
  const seen = await spool.waitFor('doctor to see the daemon', async () => {
    const result = await spool.cli(['doctor']);
    return /^ok +daemon +running \(pid \d+\), last pass \d+ s ago$/m.test(result.stdout) ? result : undefined;
  });
  t.is(seen.code, 0, seen.stdout);
  await daemon.stop();
});

test('doctor with the engine unreachable: a fail line with a hint, exit 1, the other checks still run', async (t) => {
  const spool = await makeSpool(t, (dir) => ({
    docker: { socket: path.join(dir, 'missing.sock'), pidfile: path.join(dir, 'docker.pid') },
  }));
  const result = await spool.cli(['doctor']);
  t.is(result.code, 1, result.stdout);
  t.is(result.stderr, '');
  t.regex(line(result.stdout, 'engine'), /^fail +engine +the Docker engine is not reachable: .*missing\.sock/);
  t.regex(result.stdout, /^fail +engine .*\n +hint: start it/m);
  t.regex(line(result.stdout, 'nvidia-runtime'), /^warn +nvidia-runtime +not checked: the engine is unreachable$/);
  t.regex(line(result.stdout, 'spool'), /^ok +spool /);
  t.regex(line(result.stdout, 'host'), /^ok +host +defaults and limits fit this host's /, "this host's own figures without the engine");
});

test('doctor with a config that does not load: its problems in one fail line, exit 1, no error report', async (t) => {
  const spool = await makeSpool(t);
  await writeFile(spool.configFile, 'spool: ./spool\ngpus: [0, 0]\nlimits: {cpus: 100000}\n');
  const result = await spool.cli(['doctor']);
  t.is(result.code, 1);
  t.is(result.stderr, '');
  t.regex(result.stdout, /^fail +config +\S+ \(by --config\): line 2: gpus: a GPU is listed twice$/m);
  const missing = await runCli(['--config', '/nonexistent/dopq.yaml', 'doctor', '--json']);
  t.is(missing.code, 1);
  const [config] = JSON.parse(missing.stdout) as Check[];
  t.is(config?.status, 'fail');
  t.regex(config?.detail ?? '', /^\/nonexistent\/dopq.yaml \(by --config\): cannot read the config: no such file/);
});

test('doctor fails a config default above this host and warns of a limit above it, naming key and line', async (t) => {
  const limit = await makeSpool(t, { limits: { cpus: 100000 } });
  const warned = await limit.cli(['doctor']);
  t.regex(line(warned.stdout, 'host'), /^warn +host +limits\.cpus \(line \d+\): 100000 is more than the engine's \d+ CPUs?/);
  const spool = await makeSpool(t, { defaults: { cpus: 100000 }, limits: { cpus: 100000 } });
  const result = await spool.cli(['doctor']);
  t.is(result.code, 1);
  t.regex(line(result.stdout, 'host'), /^fail +host +defaults\.cpus \(line \d+\): 100000 is more than the engine's \d+ CPUs?/);
});

test("push refuses a manifest asking for more CPUs or memory than this host has (65), naming file, field, line and the host's figure", async (t) => {
  const spool = await makeSpool(t, { limits: { cpus: 100000, memory: '64t' } });
  const file = path.join(spool.dir, 'big.yaml');
  const cpus = availableParallelism() + 1;
  await writeFile(file, `image: ${IMAGE}\ncpus: ${cpus}\nmemory: 60t\n`);
  const result = await spool.cli(['push', file]);
  t.is(result.code, 65);
  t.true(result.stderr.startsWith(`dopq: ${file}: `), result.stderr);
  t.regex(result.stderr, new RegExp(`line 2: cpus: ${cpus} is more than this host's ${cpus - 1} CPUs?\\n`));
  t.regex(result.stderr, /line 3: memory: 60t is more than this host's [\d.]+ [GT]B of memory/);
  t.deepEqual((await spool.q()).jobs, [], 'nothing was queued');
});

test('push refuses a manifest that would take a config default above this host, saying which and what to give', async (t) => {
  const cpus = availableParallelism();
  const spool = await makeSpool(t, {
    defaults: { gpus: 1, memory: '128m', cpus: cpus + 1, shm: '16m', time_limit: '10m' },
    limits: { cpus: 100000 },
  });
  const file = path.join(spool.dir, 'plain.yaml');
  await writeFile(file, `image: ${IMAGE}\n`);
  const result = await spool.cli(['push', file]);
  t.is(result.code, 65);
  t.regex(
    result.stderr,
    new RegExp(
      `^dopq: ${file}: cpus: not given, and the server's default \\(defaults.cpus: ${cpus + 1}\\) is more than this host's ${cpus} CPUs?; give cpus: ${cpus} or less\nhint: `,
    ),
  );
  await writeFile(file, `image: ${IMAGE}\ncpus: ${cpus}\n`);
  t.is((await spool.cli(['push', file])).code, 0, 'giving cpus within the host is fine');
});
