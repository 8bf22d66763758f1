// A queued job -> the `sbatch` call that hands it to Slurm: the argv, the batch script (given on
// stdin) and the environment sbatch runs with. Pure; the daemon's Slurm side runs it as root.
import type { Manifest } from '../job/manifest.js';

/** What Slurm needs of a job: its id, its owner's ids (from the user database) and its resources. */
export interface SbatchJob {
  id: number;
  uid: number;
  /** The owner's primary group, from the user database (never from the manifest). */
  gid: number;
  manifest: Pick<Manifest, 'gpus' | 'cpus' | 'memory' | 'shm' | 'time_limit' | 'requeue'>;
}

/** The cluster's side of a submission: the admin's config, never a manifest. */
export interface SbatchSettings {
  partition?: string | null;
  account?: string | null;
  /**
   * The job's log in the spool on the shared file system (the single-host backend's path). Slurm
   * opens it as the owner in root's logs/ folder, so it must exist, theirs, before sbatch runs
   * (appendToJobLog makes it so).
   */
  logFile: string;
  /** The config file the node helper reads (absolute, the same path on every node). */
  configFile: string;
  /**
   * The words that run dopq as root on the node from the owner's batch script, e.g.
   * `['/usr/bin/sudo', '-n', '--', '/usr/local/bin/dopq']` (see NODE_HELPER).
   */
  helper: readonly string[];
  /** `slurm.term_grace`: seconds before the time limit that Slurm sends the batch shell TERM (the helper then stops the container). */
  termGrace: number;
}

/** The default helper: sudo (a sudoers rule lets every user run exactly this) and dopq on PATH. */
export const NODE_HELPER: readonly string[] = ['/usr/bin/sudo', '-n', '--', 'dopq'];

/** The job name Slurm shows (`squeue`), and what the state side matches jobs by. */
export function slurmJobName(id: number): string {
  return `dopq-${id}`;
}

const MIB = 1024 ** 2;
// The PATH the batch script runs with: --export=NONE leaves it to Slurm and sudo's secure_path.
const SCRIPT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * sbatch's arguments, the script read from stdin. Every value is a number dopq computed or a
 * setting of the admin's: nothing a manifest wrote reaches Slurm (the job's name, command and
 * environment stay in the spool's 0600 job file, which the node helper reads).
 */
export function sbatchArgs(job: SbatchJob, settings: SbatchSettings): string[] {
  assertWhole(job.id, 'job id');
  assertWhole(job.uid, 'uid');
  assertWhole(job.gid, 'gid');
  const m = job.manifest;
  const resources = slurmResources(m);
  const args = [
    '--parsable',
    `--job-name=${slurmJobName(job.id)}`,
    `--uid=${job.uid}`,
    `--gid=${job.gid}`,
    ...(settings.partition ? [`--partition=${settings.partition}`] : []),
    ...(settings.account ? [`--account=${settings.account}`] : []),
    '--nodes=1',
    '--ntasks=1',
    `--cpus-per-task=${resources.cpus}`,
    `--mem=${resources.memoryMiB}M`,
    ...(m.gpus > 0 ? [`--gres=gpu:${m.gpus}`] : []),
    `--time=${resources.minutes}`,
    `--signal=B:TERM@${signalLead(settings.termGrace)}`,
    `--output=${slurmFileName(settings.logFile)}`,
    `--error=${slurmFileName(settings.logFile)}`,
    // dopq's log is saved by the node helper; Slurm only appends its own lines (a cancel, a time limit).
    '--open-mode=append',
    // Neither the daemon's environment nor any other reaches the job: the helper gets what the script sets.
    '--export=NONE',
    '--chdir=/',
    ...(m.requeue ? [] : ['--no-requeue']),
  ];
  return args;
}

/**
 * A file name for `--output`/`--error` that Slurm opens as written: it expands `%` patterns there
 * (`%j`, `%u`, ...; `%%` is one `%`), and in a name holding a backslash it expands nothing, drops
 * each single backslash and reads a doubled one as one. A spool path with either would else name
 * another file.
 */
export function slurmFileName(file: string): string {
  return file.includes('\\') ? file.replace(/\\/g, '\\\\') : file.replace(/%/g, '%%');
}

/** What a job's container takes, in Slurm's units: what it asks Slurm for, and what node-run checks Slurm gave. */
export function slurmResources(m: Pick<Manifest, 'cpus' | 'memory' | 'shm' | 'time_limit'>): {
  cpus: number;
  memoryMiB: number;
  minutes: number;
} {
  return {
    // Slurm counts whole CPUs; the container gets exactly the fraction asked (NanoCpus).
    cpus: Math.max(1, Math.ceil(m.cpus)),
    // The container's memory limit and its /dev/shm (tmpfs, counted in its cgroup) both live in the job's memory.
    memoryMiB: Math.max(1, Math.ceil((m.memory + m.shm) / MIB)),
    minutes: slurmMinutes(m.time_limit),
  };
}

/** `--time` in whole minutes, rounded up: a job never gets less than it asked. */
export function slurmMinutes(seconds: number): number {
  return Math.max(1, Math.ceil(seconds / 60));
}

/** `--signal`'s seconds: whole, and at least 1 (Slurm may send it up to a minute early, never late). */
export function signalLead(termGrace: number): number {
  return Math.max(1, Math.ceil(termGrace));
}

/**
 * The batch script: run as the job's owner by Slurm, it only hands over to the root helper,
 * which reads the job from the spool and checks it again. `exec`, so Slurm's TERM reaches the
 * helper (through sudo, which relays it). Only the job id and admin settings are in it, quoted.
 */
export function batchScript(job: Pick<SbatchJob, 'id'>, settings: Pick<SbatchSettings, 'configFile' | 'helper'>): string {
  assertWhole(job.id, 'job id');
  if (settings.helper.length === 0) throw new Error('the node helper command is empty');
  const words = [...settings.helper, '--config', settings.configFile, 'node-run', String(job.id)];
  return [
    '#!/bin/sh',
    `# dopq job ${job.id}: Slurm runs this as the job's owner; dopq node-run (root) runs its container.`,
    `PATH=${SCRIPT_PATH}`,
    'export PATH',
    `exec ${words.map(shellQuote).join(' ')}`,
    '',
  ].join('\n');
}

/**
 * The environment sbatch itself runs with: the daemon's PATH and SLURM_CONF only. sbatch takes
 * options from SBATCH_* variables, so the daemon's own must not reach it.
 */
export function sbatchEnvironment(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  return {
    PATH: env['PATH'] ?? SCRIPT_PATH,
    ...(env['SLURM_CONF'] ? { SLURM_CONF: env['SLURM_CONF'] } : {}),
  };
}

/** One word for /bin/sh, whatever it holds: single quotes, each ' written as '\''. */
export function shellQuote(word: string): string {
  if (word.includes('\0')) throw new Error('a shell word cannot hold a NUL byte');
  return /^[A-Za-z0-9_./=:@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function assertWhole(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${what} must be a whole number, got ${value}`);
}
