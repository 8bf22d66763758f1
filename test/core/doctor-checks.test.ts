import test from 'ava';
import { parseConfig } from '../../src/core/config/config.js';
import {
  apiAtLeast,
  configCheck,
  daemonCheck,
  diskCheck,
  doctorExitCode,
  engineCheck,
  gpusCheck,
  hostCheck,
  nvidiaRuntimeCheck,
  principalsCheck,
  principalsOf,
  renderChecks,
  spoolCheck,
  type EngineSeen,
} from '../../src/core/doctor/checks.js';
import { testConfig } from './fixtures.js';

const GB = 1024 ** 3;
const engine = (seen: Partial<EngineSeen> = {}) => ({
  ok: true as const,
  value: { version: '24.0.7', apiVersion: '1.43', runtimes: ['runc'], defaultRuntime: 'runc', ...seen },
});
const down = { ok: false as const, error: 'the Docker engine is not reachable: connect ENOENT /nope.sock' };

test('config: which file by which rule; invalid is a fail with its problems; the bundled copy a warn', (t) => {
  const config = testConfig();
  t.deepEqual(configCheck({ file: '/etc/dopq/dopq.yaml', rule: '--config' }, { ok: true, value: config }), {
    name: 'config',
    status: 'ok',
    detail: '/etc/dopq/dopq.yaml (by --config): valid',
  });
  const bad = configCheck({ file: '/x.yaml', rule: '$DOPQ_CONFIG' }, { ok: false, error: 'line 2: gpus: a GPU is listed twice' });
  t.is(bad.status, 'fail');
  t.is(bad.detail, '/x.yaml (by $DOPQ_CONFIG): line 2: gpus: a GPU is listed twice');
  t.truthy(bad.hint);
  t.is(configCheck({ file: '/opt/dopq/etc/dopq.yaml', rule: 'the bundled copy: ...' }, { ok: true, value: config }).status, 'warn');
});

test('spool: missing and unsafe are fails with dopq init in the hint', (t) => {
  const missing = spoolCheck({ ok: true, value: { root: '/var/spool/dopq', exists: false, problems: [] } });
  t.is(missing.status, 'fail');
  t.regex(missing.hint ?? '', /dopq init/);
  const unsafe = spoolCheck({
    ok: true,
    value: { root: '/s', exists: true, problems: [{ path: '/s/intake', problem: 'mode 0777, expected 1777' }] },
  });
  t.is(unsafe.status, 'fail');
  t.regex(unsafe.detail, /\/s\/intake: mode 0777, expected 1777/);
  t.is(spoolCheck({ ok: true, value: { root: '/s', exists: true, problems: [] } }).status, 'ok');
});

test('engine: unreachable is a fail; an API older than 1.41 too; else its version', (t) => {
  t.true(apiAtLeast('1.41', '1.41'));
  t.true(apiAtLeast('1.100', '1.41'));
  t.false(apiAtLeast('1.40', '1.41'));
  t.true(apiAtLeast('2.0', '1.41'));
  const unreachable = engineCheck('/nope.sock', down);
  t.is(unreachable.status, 'fail');
  t.truthy(unreachable.hint);
  t.regex(engineCheck('/var/run/docker.sock', { ok: false, error: 'connect EACCES /var/run/docker.sock' }).hint ?? '', /as root/);
  t.is(engineCheck('/s', engine({ apiVersion: '1.40' })).status, 'fail');
  t.deepEqual(engineCheck('/s', engine()), { name: 'engine', status: 'ok', detail: 'Docker 24.0.7 at /s, API 1.43' });
});

test('nvidia runtime: needed in the Runtimes for device-requests, as the default for env', (t) => {
  t.is(nvidiaRuntimeCheck('device-requests', engine({ runtimes: ['runc', 'nvidia'] })).status, 'ok');
  const missing = nvidiaRuntimeCheck('device-requests', engine());
  t.is(missing.status, 'fail');
  t.regex(missing.detail, /runtimes are runc/);
  t.regex(missing.hint ?? '', /nvidia-ctk runtime configure/);
  t.is(nvidiaRuntimeCheck('env', engine({ defaultRuntime: 'nvidia' })).status, 'ok');
  t.is(nvidiaRuntimeCheck('env', engine()).status, 'warn');
  t.is(nvidiaRuntimeCheck('env', down).status, 'warn');
});

test('gpus: nvidia-smi absent is a fail for auto, a warn for a static list', (t) => {
  const absent = { ok: false as const, error: 'nvidia-smi failed: spawn nvidia-smi ENOENT' };
  t.is(gpusCheck('auto', 'nvidia-smi', absent).status, 'fail');
  const listed = gpusCheck(['0', '1'], 'nvidia-smi', absent);
  t.is(listed.status, 'warn');
  t.regex(listed.detail, /the config's 2 GPUs \(0, 1\) are not checked/);
  t.is(gpusCheck('auto', 'nvidia-smi', { ok: true, value: [] }).status, 'fail');
});

test("gpus: the config's list against what nvidia-smi sees, by index or UUID", (t) => {
  const seen = {
    ok: true as const,
    value: [
      { id: 'GPU-aaa', index: 0, name: 'A100', processes: [] },
      { id: 'GPU-bbb', index: 1, name: 'A100', processes: [] },
    ],
  };
  t.is(gpusCheck('auto', 'nvidia-smi', seen).detail, 'nvidia-smi sees 2 GPUs: 0 (A100), 1 (A100)');
  t.is(gpusCheck(['0', 'GPU-bbb'], 'nvidia-smi', seen).status, 'ok');
  t.regex(gpusCheck(['0'], 'nvidia-smi', seen).detail, /1 not listed/);
  const missing = gpusCheck(['0', '1', '2'], 'nvidia-smi', seen);
  t.is(missing.status, 'fail');
  t.regex(missing.detail, /the config lists 2, which nvidia-smi does not see/);
});

test('host: built-in defaults lowered are ok (said); a limit set above the host warns; a default set above it fails', (t) => {
  const host = { cpus: 2, memory: 4 * GB, source: "this host's" };
  const minimal = hostCheck(parseConfig('gpus: [0]\n', '/etc/dopq/dopq.yaml'), host);
  t.is(minimal.status, 'ok');
  t.regex(minimal.detail, /built-in defaults\.cpus lowered to 2/);
  const set = hostCheck(parseConfig('limits: {cpus: 16}\n', '/etc/dopq/dopq.yaml'), host);
  t.is(set.status, 'warn');
  t.regex(set.detail, /limits\.cpus \(line 1\): 16 is more than this host's 2 CPUs/);
  const defaults = hostCheck(parseConfig('defaults: {cpus: 4}\nlimits: {cpus: 16}\n', '/etc/dopq/dopq.yaml'), host);
  t.is(defaults.status, 'fail');
  t.regex(defaults.detail, /defaults\.cpus \(line 1\): 4 is more than this host's 2 CPUs/);
  t.is(hostCheck(testConfig(), { cpus: 8, memory: 16 * GB, source: "the engine's" }).status, 'ok');
});

test('disk: below builds.min_free is the given verdict; unknown is a warn', (t) => {
  t.is(diskCheck('disk-spool', '/s', { ok: true, value: 20 * GB }, 10 * GB, 'fail', 'x').status, 'ok');
  const short = diskCheck('disk-spool', '/s', { ok: true, value: GB }, 10 * GB, 'fail', 'pushes of build jobs are refused');
  t.is(short.status, 'fail');
  t.is(short.detail, 'only 1 GB free on /s; builds.min_free is 10 GB: pushes of build jobs are refused');
  t.is(diskCheck('disk-docker', '/d', { ok: true, value: GB }, 10 * GB, 'warn', 'x').status, 'warn');
  t.is(diskCheck('disk-docker', '/d', { ok: false, error: 'EACCES' }, GB, 'warn', 'x').status, 'warn');
});

test('users: admins, submitters, shares and groups the config names must exist', (t) => {
  const config = parseConfig(
    'admins: [root, "%wheel"]\nsubmitters: [alice]\nshares: {bob: 2}\ncontainer_groups: [data]\n',
    '/etc/dopq/dopq.yaml',
  );
  const wanted = principalsOf(config);
  t.deepEqual(wanted, { users: ['alice', 'bob', 'root'], groups: ['data', 'wheel'] });
  t.is(principalsCheck(wanted, { ok: true, value: { users: ['alice', 'bob', 'root'], groups: ['data', 'wheel'] } }).status, 'ok');
  const missing = principalsCheck(wanted, { ok: true, value: { users: ['root'], groups: ['data'] } });
  t.is(missing.status, 'fail');
  t.is(missing.detail, 'the config names user alice, user bob, group wheel, unknown on this machine');
  t.is(principalsCheck({ users: [], groups: [] }, { ok: false, error: 'x' }).status, 'ok');
});

test('daemon: running and passing is ok; not running is a warn unless it passed lately (cron); a save error fails', (t) => {
  const now = 1_000_000_000;
  t.deepEqual(daemonCheck({ runningPid: 42, lastPassAt: now - 3000 }, now, 10), {
    name: 'daemon',
    status: 'ok',
    detail: 'running (pid 42), last pass 3 s ago',
  });
  t.is(daemonCheck({ runningPid: 42, lastPassAt: now - 3_600_000 }, now, 10).status, 'warn');
  t.is(daemonCheck({ lastPassAt: now - 60_000 }, now, 10).status, 'ok');
  const never = daemonCheck({}, now, 10);
  t.is(never.status, 'warn');
  t.is(never.detail, 'not running, no pass recorded');
  t.is(daemonCheck({ runningPid: 1, lastPassAt: now, saveError: { since: now - 5000, error: 'no space' } }, now, 10).status, 'fail');
});

test('the exit code is 1 on any fail; the text is one line a check, hints under warns and fails', (t) => {
  const checks = [
    { name: 'config', status: 'ok' as const, detail: 'fine', hint: 'never shown' },
    { name: 'engine', status: 'fail' as const, detail: 'down', hint: 'start it' },
  ];
  t.is(doctorExitCode(checks), 1);
  t.is(doctorExitCode([checks[0]!]), 0);
  t.is(renderChecks(checks), 'ok    config  fine\nfail  engine  down\n              hint: start it\n');
});
