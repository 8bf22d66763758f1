// `dopq rm [ID...] [--mine] [-u USER] [--state S] [--name GLOB]`: the owner or an admin cancels.
// Checked here for a clear answer at once, and again by the daemon, which acts on the request
// file (so rm works while no daemon runs). Ids name jobs one by one (each answered on a line);
// ranges, arrays and filters select many, answered with one summary line.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { DopqError, ExitCode, PermissionError, UsageError } from '../../core/errors.js';
import { isFinished } from '../../core/job/job.js';
import type { JobRef } from '../../core/job/job-ref.js';
import { isAdmin, mayActOnJob, type Caller } from '../../core/permissions.js';
import { isFiltering, jobFilter, type JobFilter, type StateFilter } from '../../core/view/job-filter.js';
import { assertSpoolReady, CONTEXT_SUFFIX } from '../../io/spool/spool.js';
import { forEachId, reportError } from '../report.js';
import type { CommandContext } from '../context.js';
import { sendRequest } from '../requests.js';
import { isBulk, jobSubject, knownJobsAndCaller, noSuchJob, resolve, type KnownJob } from '../job-targets.js';

export interface RmOptions {
  mine?: boolean;
  /** `-u`: these users' jobs (admins; a user may name only themself). */
  user?: string[];
  state?: StateFilter[];
  name?: string;
}

/** Why a job selected in bulk was not cancelled, as the summary counts them. */
type Refusal = 'not yours' | 'already finished';

export async function rmCommand(ctx: CommandContext, refs: readonly JobRef[], options: RmOptions = {}): Promise<number> {
  const filter = filterOf(options);
  if (refs.length === 0 && !isFiltering(filter) && !options.mine && !options.user) {
    throw new UsageError('name the jobs to cancel, or filters: --mine, -u USER, --state S, --name GLOB', {
      hint: 'e.g. dopq rm 17, dopq rm 17-25, dopq rm --mine --state queued',
    });
  }
  await assertSpoolReady(ctx.spool);
  const known = await knownJobsAndCaller(ctx);
  const { caller } = known;
  const others = (options.user ?? []).filter((user) => user !== caller.user);
  if (others.length > 0 && !isAdmin(caller, ctx.config.admins)) {
    throw new PermissionError('rm -u', `only admins may cancel other users' jobs (${others.join(', ')})`, {
      hint: 'dopq rm --mine cancels your own',
    });
  }
  const resolved = resolve(refs, known);
  const bulk = resolved.some(isBulk) || isFiltering(filter) || Boolean(options.mine) || options.user !== undefined;
  // Filters without ids choose among the caller's own jobs, unless -u names whose.
  const users = [...(options.user ?? []), ...(options.mine || (refs.length === 0 && !options.user) ? [caller.user] : [])];
  const matches = jobFilter({ ...filter, ...(users.length > 0 ? { users } : {}) });
  const cancel = new Cancellation(ctx, caller);

  if (!bulk) {
    // One job per argument, each answered on its own line, as ever.
    const ids = resolved.flatMap((r) => (r.ids.length === 0 ? [-1] : r.ids));
    let i = 0;
    const code = await forEachId(ids, ctx.io, (id) => {
      const ref = resolved[i++]!.ref;
      const job = known.byId.get(id);
      if (!job) throw noSuchJob(ref);
      const refusal = cancel.refusal(job);
      if (refusal === 'not yours')
        throw new PermissionError(jobSubject(job), `belongs to ${job.user}; only its owner or an admin may cancel it`);
      if (refusal) throw new DopqError('finished', ExitCode.partial, `already finished (${job.state})`, jobSubject(job));
      cancel.add(job);
    });
    await cancel.send();
    return code;
  }

  const missing = resolved.filter((r) => r.ids.length === 0);
  for (const r of missing) reportError(noSuchJob(r.ref), ctx.io);
  const candidates = refs.length === 0 ? known.jobs : [...new Set(resolved.flatMap((r) => r.ids))].map((id) => known.byId.get(id)!);
  const selected = candidates.filter((job) => !isFinished(job) && matches(job));
  const refused = new Map<Refusal, KnownJob[]>();
  for (const job of selected.sort((a, b) => a.id - b.id)) {
    const refusal = cancel.refusal(job);
    if (!refusal) cancel.add(job);
    else if (refused.has(refusal)) refused.get(refusal)!.push(job);
    else refused.set(refusal, [job]);
  }
  await cancel.send({ quiet: true });
  const refusedCount = [...refused.values()].reduce((n, jobs) => n + jobs.length, 0);
  ctx.io.out(`${summary(cancel, refused)}\n`);
  if (cancel.count === 0 && refusedCount === 0) {
    return missing.length > 0
      ? ExitCode.noSuchJob
      : reportError(new DopqError('not-found', ExitCode.noSuchJob, 'no job matches', 'rm'), ctx.io);
  }
  if (refusedCount === 0 && missing.length === 0) return ExitCode.ok;
  return cancel.count === 0 && missing.length === 0 && refused.size === 1 && refused.has('not yours')
    ? ExitCode.noPermission
    : ExitCode.partial;
}

function filterOf(options: RmOptions): JobFilter {
  return {
    ...(options.state ? { states: options.state } : {}),
    ...(options.name !== undefined ? { name: options.name } : {}),
  };
}

/** `cancelled 5 (3 queued, 2 running); refused 2: 1 not yours (dopq-bob), 1 already finished`. */
function summary(cancel: Cancellation, refused: ReadonlyMap<Refusal, KnownJob[]>): string {
  const order = ['queued', 'building', 'running'];
  const states = [...cancel.byState.entries()].sort(([a], [b]) => order.indexOf(a) - order.indexOf(b)).map(([state, n]) => `${n} ${state}`);
  const head = `cancelled ${cancel.count}${states.length > 0 ? ` (${states.join(', ')})` : ''}`;
  if (refused.size === 0) return head;
  const total = [...refused.values()].reduce((n, jobs) => n + jobs.length, 0);
  const why = [...refused.entries()].map(([reason, jobs]) => {
    const owners = reason === 'not yours' ? ` (${[...new Set(jobs.map((job) => job.user))].sort().join(', ')})` : '';
    return `${jobs.length} ${reason}${owners}`;
  });
  return `${head}; refused ${total}: ${why.join(', ')}`;
}

/** The jobs to cancel, and how: a request to the daemon, or the owner's intake file deleted. */
class Cancellation {
  private readonly toRequest: number[] = [];
  /** Jobs not read yet whose files their owner (or root) may delete. */
  private readonly toWithdraw: KnownJob[] = [];
  readonly byState = new Map<string, number>();
  private readonly states = new Map<number, string>();

  constructor(
    private readonly ctx: CommandContext,
    private readonly caller: Caller,
  ) {}

  get count(): number {
    return this.toRequest.length + this.toWithdraw.length;
  }

  refusal(job: KnownJob): Refusal | undefined {
    if (!mayActOnJob('rm', job, this.caller, this.ctx.config.admins)) return 'not yours';
    if (isFinished(job)) return 'already finished';
    return undefined;
  }

  add(job: KnownJob): void {
    this.states.set(job.id, job.state);
    this.byState.set(job.state, (this.byState.get(job.state) ?? 0) + 1);
    // Not read by the daemon yet: its owner (or root) withdraws it by deleting the file. An
    // admin cannot delete another's file in the sticky intake: the daemon cancels it instead.
    if (job.intake && (this.caller.uid === job.uid || this.caller.uid === 0)) this.toWithdraw.push(job);
    else this.toRequest.push(job.id);
  }

  /** Ask the daemon, then withdraw the intake files; says each job's fate on a line unless `quiet` (the summary says it). */
  async send({ quiet = false }: { quiet?: boolean } = {}): Promise<void> {
    const { ctx, toRequest, toWithdraw } = this;
    const say = (id: number, what: string) => (quiet ? undefined : ctx.io.out(`${id}: ${what}\n`));
    for (const id of toRequest) say(id, this.states.get(id) === 'running' ? 'stopping' : 'cancelling');
    // Asked of the daemon even for files about to be deleted, and before: one it is reading at
    // this moment is cancelled all the same, and a job that later takes a freed number was pushed
    // after this request, so the daemon spares it (requests.ts). Deleting needs no request, so a
    // spool that takes no new file (a full disk) still lets owners withdraw their files.
    if (this.count > 0) {
      await sendRequest(ctx, { op: 'rm', ids: [...toRequest, ...toWithdraw.map((job) => job.id)] }).catch((error: unknown) => {
        if (toRequest.length > 0) throw error;
      });
    }
    // An unread array's file holds all its tasks: deleted only when all of them go; for some,
    // the request alone cancels them once the daemon has read the file.
    const chosen = new Set(toWithdraw.map((job) => job.id));
    const files = new Map<string, KnownJob[]>();
    for (const job of toWithdraw) {
      const same = files.get(job.intake!.file);
      if (same) same.push(job);
      else files.set(job.intake!.file, [job]);
    }
    for (const jobs of files.values()) {
      const { file, first, last } = jobs[0]!.intake!;
      let whole = true;
      for (let id = first; id <= last && whole; id += 1) whole = chosen.has(id);
      const withdrawn = whole && (await withdrawFromIntake(ctx, file, first).catch(() => false));
      for (const job of jobs) say(job.id, withdrawn ? 'removed' : 'cancelling');
    }
  }
}

/**
 * Delete a job's intake file (and the build context push packed with it); false when the
 * daemon took it in meanwhile (then ask it). Requests made for it before stay behind, but the
 * daemon applies none to a later job that takes its number (it was pushed after them).
 */
async function withdrawFromIntake(ctx: CommandContext, file: string, id: number): Promise<boolean> {
  try {
    await rm(path.join(ctx.spool.intake, file));
    await rm(path.join(ctx.spool.intake, `${id}${CONTEXT_SUFFIX}`), { force: true });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return false;
  }
}
