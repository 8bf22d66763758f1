// `dopq init` (root): lay out the spool with the owners and modes that let any user submit but
// not read, change or delete another user's files, saying each path it creates or fixes, then
// check everything `dopq run` checks. (A spool under /etc is refused with the config itself.)
// `dopq init --repair`: put back the last whole state generation, saying what it loses.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { ExitCode, LockBusyError, PermissionError, UnsafeSpoolError } from '../../core/errors.js';
import type { JobRecord } from '../../core/job/job.js';
import type { StateFile } from '../../core/state.js';
import { acquireDaemonLock, type DaemonLock } from '../../io/spool/daemon-lock.js';
import { initSpool, spoolProblems } from '../../io/spool/spool.js';
import { checkStateFile, DamagedStateError, previousPath, restoreState, type StateCheck } from '../../io/spool/state-store.js';
import type { CommandContext } from '../context.js';

export interface InitOptions {
  repair?: boolean;
}

export async function initCommand(ctx: CommandContext, options: InitOptions = {}): Promise<number> {
  if (process.geteuid?.() !== 0) {
    const what = options.repair ? 'repairs the state' : 'lays out the spool';
    throw new PermissionError('init', `only root ${what} (the daemon runs as root and trusts it)`, {
      hint: options.repair ? 'sudo dopq init --repair' : 'sudo dopq init',
    });
  }
  if (options.repair) return repairCommand(ctx);
  ctx.io.out(`config ${ctx.config.file}: spool ${ctx.spool.root}\n`);
  const changed = await initSpool(ctx.spool);
  for (const line of changed) ctx.io.out(`${line}\n`);
  const problems = await spoolProblems(ctx.spool, ctx.config.file);
  if (problems.length > 0) throw new UnsafeSpoolError(ctx.spool.root, problems);
  ctx.io.out(`spool ${ctx.spool.root} is ready${changed.length === 0 ? ' (nothing to change)' : ''}\n`);
  return ExitCode.ok;
}

type Decision = { act: 'nothing'; say: string } | { act: 'restore'; previous: Extract<StateCheck, { kind: 'ok' }> };

// Decided twice: first without the lock (a whole state needs none), then again under it.
async function decide(ctx: CommandContext): Promise<Decision> {
  const file = ctx.spool.state;
  const current = await checkStateFile(file);
  if (current.kind === 'ok') return { act: 'nothing', say: `${file} is whole (${describeJobs(current.state.jobs)}); nothing to change` };
  const previous = await checkStateFile(previousPath(file));
  if (current.kind !== 'damaged' && previous.kind === 'missing')
    return {
      act: 'nothing',
      say: `${file} is ${current.kind} and has no earlier generation: the daemon starts from an empty state; nothing to change`,
    };
  if (previous.kind !== 'ok') {
    const lines = [
      `${path.basename(file)}: ${problemOf(current)}`,
      `${path.basename(previousPath(file))}: ${problemOf(previous)}`,
      'nothing was changed',
    ];
    throw new DamagedStateError(
      ctx.spool.stateDir,
      `no whole state generation to restore:\n${lines.join('\n')}`,
      'put back state.json from a backup, or move it aside so that the next dopq run starts from an empty state (and removes every container of this spool)',
    );
  }
  return { act: 'restore', previous };
}

async function repairCommand(ctx: CommandContext): Promise<number> {
  const first = await decide(ctx);
  if (first.act === 'nothing') {
    ctx.io.out(`${first.say}\n`);
    return ExitCode.ok;
  }
  const lock = await lockSpool(ctx);
  try {
    const file = ctx.spool.state;
    const before = await checkStateFile(file);
    const decision = await decide(ctx);
    if (decision.act === 'nothing') {
      ctx.io.out(`${decision.say}\n`);
      return ExitCode.ok;
    }
    const kept = await restoreState(file, decision.previous.text, new Date());
    const lost = (await jobFileIds(ctx.spool.jobs)).filter((id) => !decision.previous.state.jobs.some((job) => job.id === id));
    const report = [
      `${file} was ${problemOf(before)}`,
      ...(kept ? [`kept the damaged file as ${kept}`] : []),
      ...restoreReport(ctx, decision.previous, lost),
    ];
    ctx.io.out(`${report.join('\n')}\n`);
    return ExitCode.ok;
  } finally {
    await lock.release();
  }
}

/** The daemon's own lock: no daemon may start (or write the state) while we swap it. */
async function lockSpool(ctx: CommandContext): Promise<DaemonLock> {
  try {
    return await acquireDaemonLock(ctx.spool.daemonLock, ctx.spool.daemonPid, () => undefined);
  } catch (error) {
    if (!(error instanceof LockBusyError)) throw error;
    throw new LockBusyError(error.subject ?? ctx.spool.daemonLock, error.message, {
      hint: 'stop it first (`dopq shutdown`): it writes its whole state as it exits, which may leave nothing to repair',
    });
  }
}

function restoreReport(ctx: CommandContext, previous: Extract<StateCheck, { kind: 'ok' }>, lost: number[]): string[] {
  const asOf = new Date(generationTime(previous.state, previous.mtimeMs)).toISOString();
  const running = previous.state.jobs.filter((job) => job.state === 'running').length;
  const lines = [
    `restored ${previousPath(ctx.spool.state)}: the state as of ${asOf} (${describeJobs(previous.state.jobs)})`,
    `lost: every change after ${asOf} (jobs pushed, started, finished, cancelled, held or moved since then)`,
  ];
  if (lost.length > 0) {
    lines.push(
      `lost: job${lost.length === 1 ? '' : 's'} ${lost.join(', ')}: no record in the restored state; ${lost.length === 1 ? 'its job file is' : 'their job files are'} kept in ${ctx.spool.jobs}, but ${lost.length === 1 ? 'it' : 'they'} must be pushed again`,
    );
  }
  lines.push(
    `containers: the next dopq run adopts those of the ${running} job${running === 1 ? '' : 's'} recorded as running (recording any that ended meanwhile) and removes every other container of this spool still running${lost.length > 0 ? ', those of the lost jobs included' : ''}; a job restored as queued then runs again from the start`,
  );
  return lines;
}

/** When the generation was written: its file's time, or its newest job event if later. */
export function generationTime(state: StateFile, mtimeMs: number): number {
  const times = state.jobs.flatMap((job) => [
    job.submitted_at,
    job.started_at,
    job.finished_at,
    job.build_started_at,
    job.top_at,
    job.stop_requested_at,
  ]);
  return Math.max(mtimeMs, ...times.filter((t): t is number => typeof t === 'number' && Number.isFinite(t)));
}

const STATE_ORDER = ['running', 'building', 'queued', 'done', 'failed', 'cancelled', 'rejected'];

export function describeJobs(jobs: readonly Pick<JobRecord, 'state'>[]): string {
  if (jobs.length === 0) return 'no jobs';
  const counts = new Map<string, number>();
  for (const job of jobs) counts.set(job.state, (counts.get(job.state) ?? 0) + 1);
  const order = (state: string) => (STATE_ORDER.includes(state) ? STATE_ORDER.indexOf(state) : STATE_ORDER.length);
  const parts = [...counts].sort(([a], [b]) => order(a) - order(b)).map(([state, n]) => `${n} ${state}`);
  return `${jobs.length} job${jobs.length === 1 ? '' : 's'}: ${parts.join(', ')}`;
}

function problemOf(check: StateCheck): string {
  return check.kind === 'damaged' ? `damaged: ${check.problem}` : check.kind === 'ok' ? 'whole' : check.kind;
}

/** Ids of the job files the daemon keeps (SPOOL/jobs/<id>.json), in order. */
async function jobFileIds(dir: string): Promise<number[]> {
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw error;
  });
  return names
    .flatMap((name) => /^(\d+)\.json$/.exec(name)?.[1] ?? [])
    .map(Number)
    .sort((a, b) => a - b);
}
