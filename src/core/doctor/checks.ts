// `dopq doctor`'s checks: each a small pure function from what was observed (plain data the
// command gathers) to one verdict, ok / warn / fail, with the fix in a hint.
import type { Config, HostFigures } from '../config/config.js';
import { describeAmount, fitHost } from '../config/fit-host.js';
import type { GpuInfo } from '../schedule/gpus.js';
import { readableSize } from '../units.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
  /** What to do about a warn or a fail. */
  hint?: string;
}

/** The engine API dopq speaks (device requests, the events it reads). */
export const MIN_API_VERSION = '1.41';

/** What was tried and what it gave: a value, or the error's message (and hint). */
export type Probe<T> = { ok: true; value: T } | { ok: false; error: string; hint?: string };

const check = (name: string, status: CheckStatus, detail: string, hint?: string): Check => ({
  name,
  status,
  detail,
  ...(hint ? { hint } : {}),
});

export function configCheck(found: { file: string; rule: string }, loaded: Probe<Config>): Check {
  const where = `${found.file} (by ${found.rule})`;
  if (!loaded.ok)
    return check('config', 'fail', `${where}: ${loaded.error}`, loaded.hint ?? 'fix it as the message says; every key is in dopq.yaml(5)');
  if (found.rule.startsWith('the bundled copy'))
    return check(
      'config',
      'warn',
      `${where}: valid, but it is the example shipped with dopq`,
      'copy it to /etc/dopq/dopq.yaml and edit it (dopq.yaml(5))',
    );
  return check('config', 'ok', `${where}: valid`);
}

export interface SpoolSeen {
  root: string;
  exists: boolean;
  problems: { path: string; problem: string }[];
}

export function spoolCheck(seen: Probe<SpoolSeen>): Check {
  if (!seen.ok) return check('spool', 'fail', seen.error, 'run dopq doctor as root to see every folder');
  const { root, exists, problems } = seen.value;
  if (!exists)
    return check('spool', 'fail', `${root} does not exist`, 'as root: dopq init (it lays out the spool with its owners and modes)');
  if (problems.length > 0) {
    const shown = problems.slice(0, 3).map((p) => `${p.path}: ${p.problem}`);
    if (problems.length > 3) shown.push(`and ${problems.length - 3} more`);
    return check(
      'spool',
      'fail',
      `${root}: dopq run would refuse it: ${shown.join('; ')}`,
      'as root, `dopq init` gives the spool its owners and modes; folders above it and the config you fix yourself',
    );
  }
  return check('spool', 'ok', `${root}: owners and modes as dopq run expects`);
}

export interface EngineSeen {
  version: string;
  apiVersion: string;
  runtimes: string[];
  defaultRuntime: string;
}

/** `1.41` < `1.43`, compared by number. */
export function apiAtLeast(version: string, minimum: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const [wantMajor = 0, wantMinor = 0] = minimum.split('.').map(Number);
  return major > wantMajor || (major === wantMajor && minor >= wantMinor);
}

export function engineCheck(socket: string, engine: Probe<EngineSeen>): Check {
  if (!engine.ok) {
    const denied = /EACCES|permission denied/i.test(engine.error);
    return check(
      'engine',
      'fail',
      engine.error,
      denied
        ? `run dopq doctor as root (the daemon's user): ${socket} is root's`
        : (engine.hint ?? 'start it (as root: systemctl start docker), or set docker.socket in the config'),
    );
  }
  const { version, apiVersion } = engine.value;
  if (!apiAtLeast(apiVersion, MIN_API_VERSION)) {
    return check(
      'engine',
      'fail',
      `Docker ${version} at ${socket} speaks API ${apiVersion}; dopq needs ${MIN_API_VERSION} or later`,
      'upgrade Docker (20.10 or later)',
    );
  }
  return check('engine', 'ok', `Docker ${version} at ${socket}, API ${apiVersion}`);
}

/** The engine can hand jobs their GPUs the way the config assigns them. */
export function nvidiaRuntimeCheck(assignment: Config['gpu_assignment'], engine: Probe<EngineSeen>): Check {
  if (!engine.ok) return check('nvidia-runtime', 'warn', 'not checked: the engine is unreachable', 'see the engine check');
  const { runtimes, defaultRuntime } = engine.value;
  const listed = runtimes.length > 0 ? runtimes.join(', ') : 'none';
  if (assignment === 'device-requests') {
    if (runtimes.includes('nvidia'))
      return check('nvidia-runtime', 'ok', `the engine has the nvidia runtime (gpu_assignment: device-requests)`);
    return check(
      'nvidia-runtime',
      'fail',
      `gpu_assignment is device-requests, but the engine's runtimes are ${listed}: GPU jobs would fail to start ("could not select device driver nvidia")`,
      'install the NVIDIA container toolkit, run `nvidia-ctk runtime configure --runtime=docker` and restart Docker; without GPUs, set gpu_assignment: env',
    );
  }
  if (defaultRuntime === 'nvidia') return check('nvidia-runtime', 'ok', "the engine's default runtime is nvidia (gpu_assignment: env)");
  return check(
    'nvidia-runtime',
    'warn',
    `gpu_assignment is env, which needs nvidia as the engine's default runtime; it is ${defaultRuntime || 'unknown'}: jobs would not see their GPUs`,
    '`nvidia-ctk runtime configure --runtime=docker --set-as-default` and restart Docker; on a machine without GPUs, ignore this',
  );
}

/** The GPUs nvidia-smi sees against the config's `gpus` (auto, or a list of indices and UUIDs). */
export function gpusCheck(configured: Config['gpus'], command: string, seen: Probe<GpuInfo[]>): Check {
  if (!seen.ok) {
    if (configured === 'auto') {
      return check(
        'gpus',
        'fail',
        `gpus is auto, but ${seen.error}`,
        'install the NVIDIA driver (or set nvidia_smi), or list the GPUs in the config (gpus: [0, 1])',
      );
    }
    return check(
      'gpus',
      'warn',
      `${seen.error}: the config's ${configured.length} GPUs (${configured.join(', ')}) are not checked against the driver`,
      'install the NVIDIA driver; on a machine without GPUs (a test setup), ignore this',
    );
  }
  const gpus = seen.value;
  const shown = gpus.map((gpu) => `${gpu.index}${gpu.name ? ` (${gpu.name})` : ''}`).join(', ');
  if (configured === 'auto') {
    if (gpus.length === 0)
      return check(
        'gpus',
        'fail',
        `gpus is auto, but ${command} sees no GPU`,
        'check the driver (nvidia-smi), or list the GPUs in the config',
      );
    return check('gpus', 'ok', `${command} sees ${gpus.length} GPU${gpus.length === 1 ? '' : 's'}: ${shown}`);
  }
  const missing = configured.filter((id) => !gpus.some((gpu) => gpu.id === id || String(gpu.index) === id));
  if (missing.length > 0) {
    return check(
      'gpus',
      'fail',
      `the config lists ${missing.join(', ')}, which ${command} does not see (it sees ${gpus.length > 0 ? shown : 'none'})`,
      'list only GPUs the machine has (indices or UUIDs from nvidia-smi -L), or use gpus: auto',
    );
  }
  const unlisted = gpus.filter((gpu) => !configured.includes(gpu.id) && !configured.includes(String(gpu.index)));
  return check(
    'gpus',
    'ok',
    `the config's ${configured.length} GPUs are all seen by ${command}${unlisted.length > 0 ? `; ${unlisted.map((gpu) => gpu.index).join(', ')} not listed (dopq leaves ${unlisted.length === 1 ? 'it' : 'them'} alone)` : ''}`,
  );
}

/** Defaults and limits against this host's CPUs and memory (what fit-host does at the daemon's start). */
export function hostCheck(config: Config, host: HostFigures): Check {
  const { notes } = fitHost(config, host);
  const set = notes.filter((note) => !note.builtIn);
  if (set.length > 0) {
    // A default above the host fails jobs; a limit above it is only a promise the host narrows.
    const failing = set.some((note) => note.key.startsWith('defaults.'));
    return check(
      'host',
      failing ? 'fail' : 'warn',
      set.map((note) => note.message).join('; '),
      `lower them to what the host has (${describeAmount('cpus', host.cpus)}, ${readableSize(host.memory)}), or remove them from the config to take the built-in ones, fitted to the host`,
    );
  }
  const lowered = notes.map((note) => `built-in ${note.key} lowered to ${note.key.endsWith('cpus') ? note.host : readableSize(note.host)}`);
  return check(
    'host',
    'ok',
    `defaults and limits fit ${host.source} ${describeAmount('cpus', host.cpus)} and ${describeAmount('memory', host.memory)}${lowered.length > 0 ? ` (${lowered.join(', ')})` : ''}`,
  );
}

/**
 * Free space of a folder against builds.min_free. `short` is what it means to be short there:
 * a fail where dopq refuses work (the spool), a warn where it only hurts (Docker's root).
 */
export function diskCheck(
  name: string,
  folder: string,
  free: Probe<number>,
  minFree: number,
  short: CheckStatus,
  consequence: string,
): Check {
  if (!free.ok) {
    // A folder that is not there yet (the spool before dopq init) is no matter of privileges.
    const hint = free.error.includes('ENOENT')
      ? `${folder} does not exist yet: create it (the spool: as root, dopq init)`
      : 'run dopq doctor as root';
    return check(name, 'warn', `cannot tell the free space of ${folder}: ${free.error}`, hint);
  }
  if (free.value < minFree) {
    return check(
      name,
      short,
      `only ${readableSize(free.value)} free on ${folder}; builds.min_free is ${readableSize(minFree)}: ${consequence}`,
      'free space (old images: docker image prune), or lower builds.min_free',
    );
  }
  return check(name, 'ok', `${readableSize(free.value)} free on ${folder} (builds.min_free ${readableSize(minFree)})`);
}

/** Users and `%groups` the config names: admins, submitters, shares, container_groups. */
export function principalsOf(config: Config): { users: string[]; groups: string[] } {
  const names = [...config.admins, ...(config.submitters ?? []), ...Object.keys(config.shares)];
  const users = new Set<string>();
  const groups = new Set<string>(config.container_groups);
  for (const name of names) {
    if (name.startsWith('%')) groups.add(name.slice(1));
    else users.add(name);
  }
  return { users: [...users].sort(), groups: [...groups].sort() };
}

export function principalsCheck(wanted: { users: string[]; groups: string[] }, known: Probe<{ users: string[]; groups: string[] }>): Check {
  const total = wanted.users.length + wanted.groups.length;
  if (total === 0) return check('users', 'ok', 'the config names no users or groups');
  if (!known.ok) return check('users', 'warn', `cannot look the config's users and groups up: ${known.error}`, 'check that getent works');
  const missing = [
    ...wanted.users.filter((user) => !known.value.users.includes(user)).map((user) => `user ${user}`),
    ...wanted.groups.filter((group) => !known.value.groups.includes(group)).map((group) => `group ${group}`),
  ];
  if (missing.length > 0) {
    return check(
      'users',
      'fail',
      `the config names ${missing.join(', ')}, unknown on this machine`,
      'fix the names (admins, submitters, shares, container_groups): one created later would get what the config gives it',
    );
  }
  return check('users', 'ok', `the config's ${wanted.users.length} users and ${wanted.groups.length} groups exist`);
}

export interface DaemonSeen {
  /** The pid of a daemon running now on this spool. */
  runningPid?: number;
  /** When it last saved the state (its status file), ms. */
  lastPassAt?: number;
  /** Set while it cannot save the state. */
  saveError?: { since: number; error: string };
}

/** A daemon not running, but one passed this recently: `dopq run --once` from cron. */
const CRON_RECENT_MS = 10 * 60_000;

export function daemonCheck(seen: DaemonSeen, now: number, reconcileInterval: number): Check {
  const ago = (at: number) => `${formatAgo(now - at)} ago`;
  const last = seen.lastPassAt === undefined ? 'no pass recorded' : `last pass ${ago(seen.lastPassAt)}`;
  if (seen.saveError) {
    return check(
      'daemon',
      'fail',
      `cannot save its state since ${ago(seen.saveError.since)}: ${seen.saveError.error}; nothing starts meanwhile`,
      "free space on the spool's disk",
    );
  }
  if (seen.runningPid !== undefined) {
    // Passes come at least every reconcile interval: one far older than that is a stuck daemon.
    const stale = seen.lastPassAt === undefined || now - seen.lastPassAt > Math.max(60_000, 5 * reconcileInterval * 1000);
    if (stale)
      return check(
        'daemon',
        'warn',
        `running (pid ${seen.runningPid}), but ${last}`,
        'look at its log (journalctl -u dopq); it may be stuck',
      );
    return check('daemon', 'ok', `running (pid ${seen.runningPid}), ${last}`);
  }
  if (seen.lastPassAt !== undefined && now - seen.lastPassAt <= CRON_RECENT_MS) {
    return check('daemon', 'ok', `not running now, ${last} (dopq run --once from cron?)`);
  }
  return check('daemon', 'warn', `not running, ${last}`, 'as root: dopq run (or systemctl start dopq), or dopq run --once from cron');
}

function formatAgo(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

/** 0 when no check failed, else 1 (dopq(1), EXIT STATUS). */
export function doctorExitCode(checks: readonly Check[]): number {
  return checks.some((c) => c.status === 'fail') ? 1 : 0;
}

/** One line per check, `ok`/`warn`/`fail`, then the hint indented under a warn or fail. */
export function renderChecks(checks: readonly Check[]): string {
  const width = Math.max(...checks.map((c) => c.name.length));
  return checks
    .map((c) => {
      const line = `${c.status.padEnd(4)}  ${c.name.padEnd(width)}  ${c.detail}`;
      return c.hint && c.status !== 'ok' ? `${line}\n${' '.repeat(width + 8)}hint: ${c.hint}` : line;
    })
    .map((text) => `${text}\n`)
    .join('');
}
