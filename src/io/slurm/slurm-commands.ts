// The edge to Slurm: sbatch, squeue, sacct, scancel, scontrol and sshare run with execFile (never a
// shell), each with a timeout, in a clean environment: sbatch reads SBATCH_* and SLURM_* variables
// from its own environment, so the daemon's never reaches a job or changes how one is submitted.
import { parseSacct, SACCT_FIELDS } from '../../core/slurm/sacct-text.js';
import type { SlurmJob } from '../../core/slurm/slurm-job.js';
import { parseSqueueJson } from '../../core/slurm/squeue-json.js';
import { parseSshare, SSHARE_FIELDS, type ShareRow } from '../../core/slurm/sshare.js';
import { runSlurm, SlurmCommandError } from './slurm-run.js';

export { SlurmCommandError };

export interface SlurmCommands {
  /** sbatch with `args` and the batch script on stdin; Slurm's job id. */
  submit(args: readonly string[], script: string): Promise<number>;
  /** Every job the controller holds (all users, all states still in memory). */
  queue(): Promise<SlurmJob[]>;
  /** What accounting keeps of these Slurm job ids, or of jobs with these names since `since` (ms). */
  accounting(query: { ids: readonly number[]; names: readonly string[]; since: number }): Promise<SlurmJob[]>;
  cancel(ids: readonly number[]): Promise<void>;
  hold(ids: readonly number[]): Promise<void>;
  release(ids: readonly number[]): Promise<void>;
  /** `scontrol top`: the job ahead of its owner's other pending jobs (same partition, account and QOS). */
  top(id: number): Promise<void>;
  shares(): Promise<ShareRow[]>;
}

export interface SlurmCommandOptions {
  /** Folder of the Slurm commands; null: found on PATH. */
  binDir: string | null;
  /** Seconds each command may take. */
  timeout?: number;
}

export function slurmCommands(options: SlurmCommandOptions): SlurmCommands {
  const timeoutMs = (options.timeout ?? 30) * 1000;
  // SLURM_TIME_FORMAT: sacct prints times as epoch seconds, whatever the locale and time zone.
  const env = { SLURM_TIME_FORMAT: '%s', SLURM_CONF: process.env['SLURM_CONF'] };
  const run = (name: string, args: readonly string[], input?: string): Promise<string> =>
    runSlurm(name, args, { bin: options.binDir, timeoutMs, env, maxBuffer: 512 * 1024 ** 2, ...(input !== undefined ? { input } : {}) });
  const each = async (name: string, args: readonly string[], ids: readonly number[]) => {
    if (ids.length > 0) await run(name, [...args, ...ids.map(String)]);
  };
  return {
    async submit(args, script) {
      const out = await run('sbatch', ['--parsable', ...args], script);
      const id = Number(/^(\d+)/.exec(out.trim())?.[1]);
      if (!Number.isSafeInteger(id) || id <= 0) throw new SlurmCommandError('sbatch', `printed no job id (${out.trim().slice(0, 80)})`);
      return id;
    },
    async queue() {
      return parseSqueueJson(await run('squeue', ['--all', '--json']));
    },
    async accounting({ ids, names, since }) {
      if (ids.length === 0 && names.length === 0) return [];
      const start = localTimestamp(since);
      const query = async (selector: string[]) =>
        parseSacct(
          await run('sacct', ['--allusers', '--parsable2', '--noheader', '--allocations', '-o', SACCT_FIELDS, '-S', start, ...selector]),
        );
      return [
        ...(ids.length > 0 ? await query(['--jobs', ids.join(',')]) : []),
        ...(names.length > 0 ? await query(['--name', names.join(',')]) : []),
      ];
    },
    cancel: (ids) => each('scancel', [], ids),
    hold: (ids) => each('scontrol', ['hold'], ids),
    release: (ids) => each('scontrol', ['release'], ids),
    top: (id) => each('scontrol', ['top'], [id]),
    async shares() {
      return parseSshare(await run('sshare', ['--all', '--parsable2', '--noheader', '--format', SSHARE_FIELDS]));
    },
  };
}

/** sacct's `-S`: the local time, as Slurm reads it (YYYY-MM-DDTHH:MM:SS). */
function localTimestamp(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}
