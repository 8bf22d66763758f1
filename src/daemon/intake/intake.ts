// Reading what users dropped into the intake: each file becomes a queued job or a rejected one
// (with its reasons, shown to its owner in `dopq q`). A bad file never stops the others.
import { jobNameFromFile } from '../../core/job/file-name.js';
import path from 'node:path';
import { lstat, rename, rm, stat } from 'node:fs/promises';
import { highestPushedId, rangesOverlap } from '../../core/job/job-ids.js';
import { arrayTasks } from '../../core/job/array-spec.js';
import { readableSize } from '../../core/units.js';
import { decodeEnvelope, type Envelope, type PackedContextRef } from '../../core/job/envelope.js';
import { withoutGivenValue } from '../../core/document/schema-issues.js';
import { formatIssues, type Issue } from '../../core/errors.js';
import { jobImageTag, type JobRecord, type JobSpec } from '../../core/job/job.js';
import { parseManifest, type Manifest } from '../../core/job/manifest.js';
import { isAdmin, maySubmit } from '../../core/permissions.js';
import { writeFileAtomic } from '../../io/files/atomic-write.js';
import { copyOwnedFile, readOwnedFile, UnsafeFileError } from '../../io/files/safe-read.js';
import { CONTEXT_SUFFIX, discardEntry, INTAKE_SUFFIX, jobRangeOfIntakeName, listDropped } from '../../io/spool/spool.js';
import { callerOf, userName } from '../../io/host/users.js';
import { jobById, type DaemonContext } from '../context.js';
import { noteOnce } from './requests.js';
import { retireIds } from '../jobs/history.js';
import { RefusalSummary } from './refusal-summary.js';
import { enforceWaitingCap } from './waiting-cap.js';

/** An intake file the state now accounts for: deleted once the state is saved, or kept for admins. */
export interface Consumed {
  file: string;
  /** Set for a refused file: moved here (rejected/, root only) instead of deleted. */
  keepAs?: string;
  /** Files that came with it (a packed build context), deleted with it. */
  also?: string[];
}

/** Reads every intake file into the state; returns what to do with each file once the state is saved. */
export async function ingest(ctx: DaemonContext): Promise<Consumed[]> {
  // Above the ceiling nothing new is read: the files wait in the intake, nothing is lost, and
  // the state shrinks as finished records age out (history.keep).
  const stateBytes = (await stat(ctx.spool.state).catch(() => undefined))?.size ?? 0;
  if (stateBytes > ctx.config.limits.state_size) {
    noteOnce(
      ctx,
      `state size ${Math.floor(stateBytes / 1024 ** 2)}`,
      `the state is ${readableSize(stateBytes)}, over limits.state_size (${readableSize(ctx.config.limits.state_size)}): new job files wait in the intake until finished records age out`,
    );
    return [];
  }
  const { numberedEntries } = await enforceWaitingCap(ctx);
  const refusals = new RefusalSummary('job files dropped unread');
  const names = await listDropped(ctx.spool.intake, INTAKE_SUFFIX);
  const numbers: Numbers = {
    floor: ctx.state.jobs.reduce((max, job) => Math.max(max, job.id), ctx.idFloor),
    waiting: numberedEntries,
    entries: names.flatMap((name) => {
      const range = jobRangeOfIntakeName(name);
      return range ? [{ name, ...range }] : [];
    }),
  };
  const consumed: Consumed[] = [];
  for (const name of names) {
    const file = path.join(ctx.spool.intake, name);
    if (ctx.unsaved.has(file)) continue; // taken in by a pass whose state is not on disk yet
    try {
      const outcome = await ingestFile(ctx, file, name, numbers, refusals);
      if (outcome) consumed.push(outcome);
    } catch (error) {
      noteOnce(ctx, `intake ${name}`, `cannot ingest ${name}: ${(error as Error).message}; skipping it`);
    }
  }
  refusals.flush(ctx);
  return consumed;
}

/**
 * Once the state accounting for them is saved: refused files go to rejected/, the rest (and
 * the contexts that came with them) are removed, each on its own, whatever lies there now.
 */
export async function disposeConsumed(ctx: DaemonContext, consumed: Consumed[]): Promise<void> {
  const dispose = async (file: string, keepAs?: string) => {
    try {
      // A rejected record dropped meanwhile (limits.per_user.rejected) keeps no file either.
      if (keepAs && jobById(ctx, Number(path.basename(keepAs, INTAKE_SUFFIX)))) {
        try {
          await rename(file, keepAs);
          return;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
        }
      }
      await discardEntry(file, ctx.spool.rejected);
    } catch (error) {
      noteOnce(ctx, `dispose ${file}`, `cannot remove ${path.basename(file)} from the intake: ${(error as Error).message}`);
    }
  };
  await Promise.all(consumed.flatMap(({ file, keepAs, also }) => [dispose(file, keepAs), ...(also ?? []).map((other) => dispose(other))]));
}

/** A job file dopq push cannot have written: removed unread, one summed log line for its owner. */
async function dropUnread(ctx: DaemonContext, file: string, uid: number, refusals: RefusalSummary, why: string): Promise<undefined> {
  await discardEntry(file, ctx.spool.rejected);
  refusals.add(await userName(uid), `dropped ${path.basename(file)} of ${await userName(uid)} unread: ${why}`);
  return undefined;
}

/**
 * Push links a new file and removes its temp name a moment later: two links that young are that.
 * Two pushes that raced for the same numbers (an array's range and another job) find each other
 * and one withdraws within this time too; until then neither is read.
 */
const PUBLISH_GRACE_MS = 30_000;

/** How much earlier than its link a job's submit time may be: push packs and publishes in between. */
const SUBMIT_SLACK_MS = 60_000;

/** The numbers taken so far and the job files listed in this pass, with the numbers each holds. */
interface Numbers {
  floor: number;
  waiting: number;
  entries: { name: string; first: number; last: number }[];
}

/** Whether one of `others` (intake names) was linked before a file of ctime `ctimeMs` named `name`. */
async function linkedEarlier(ctx: DaemonContext, others: readonly { name: string }[], ctimeMs: number, name: string): Promise<boolean> {
  for (const other of others) {
    const info = await lstat(path.join(ctx.spool.intake, other.name)).catch(() => undefined);
    if (info && (info.ctimeMs < ctimeMs || (info.ctimeMs === ctimeMs && other.name < name))) return true;
  }
  return false;
}

async function ingestFile(
  ctx: DaemonContext,
  file: string,
  name: string,
  numbers: Numbers,
  refusals: RefusalSummary,
): Promise<Consumed | undefined> {
  const now = ctx.now();
  const owner = await lstat(file).catch(() => undefined);
  if (!owner) return undefined; // withdrawn by its owner
  // The number is checked before the file is read: a name push cannot have made costs one lstat.
  const range = jobRangeOfIntakeName(name);
  if (range === undefined)
    return dropUnread(ctx, file, owner.uid, refusals, 'not named <job number>.job (or <first>-<last>.job), as dopq push names job files');
  const id = range.first;
  const size = range.last - range.first + 1;
  const young = now - owner.ctimeMs < PUBLISH_GRACE_MS;
  // Numbers another file holds too: of two pushes that raced, the one linked later withdraws
  // (push.ts keptAfterRace), so the file linked first stays. A link sets ctime, which nobody can
  // set back: a file dropped over another's numbers never pushes that one out, and waits (while
  // young, its push may be taking it back) to be dropped.
  const others = numbers.entries.filter((entry) => entry.name !== name && rangesOverlap(entry, range));
  if (others.length > 0 && (await linkedEarlier(ctx, others, owner.ctimeMs, name))) {
    if (young) return undefined;
    return dropUnread(ctx, file, owner.uid, refusals, `its job numbers ${id}-${range.last} are held by a job file linked before it`);
  }
  if (id > highestPushedId(numbers.floor, numbers.waiting))
    return dropUnread(
      ctx,
      file,
      owner.uid,
      refusals,
      `job number ${id} is far past the last one taken (${numbers.floor}); dopq push takes the lowest free number`,
    );
  const known = jobById(ctx, id);
  if (known && known.uid !== owner.uid) return dropUnread(ctx, file, owner.uid, refusals, `job number ${id} belongs to another user's job`);
  // Ingested from this very file (by a pass that could not delete it) is the same array, or the same single job.
  const sameFile = known && (known.array ? known.array.id === id && known.array.size === size : size === 1);
  const taken = (known && !sameFile) || (!known && size > 1 && ctx.state.jobs.some((job) => job.id > id && job.id <= range.last));
  if (taken) {
    if (young) return undefined; // a push that raced for these numbers is withdrawing it
    return dropUnread(ctx, file, owner.uid, refusals, `job number ${id} belongs to another job`);
  }
  // A number whose job has left the state (aged out, cleared, past the rejected cap) stays that
  // job's: push only takes numbers above the floor, which was above it when it was taken.
  if (!known && id <= (ctx.state.retired_up_to ?? 0))
    return dropUnread(
      ctx,
      file,
      owner.uid,
      refusals,
      `job number ${id} was taken before, by a job that has left the state; dopq push takes numbers above the last one taken`,
    );
  if (known) {
    // Ingested by a pass whose state could not be saved, or that died before it deleted the
    // file: already in the state (push never reuses a number below the floor).
    return known.state === 'rejected' ? { file, keepAs: rejectedPath(ctx, id) } : { file };
  }
  let owned;
  try {
    // The envelope JSON-escapes the manifest (at worst 6 bytes per byte, \uXXXX), plus its fields.
    owned = await readOwnedFile(file, ctx.config.limits.manifest_bytes * 6 + 4096);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // withdrawn by its owner
    if (!(error instanceof UnsafeFileError)) throw error;
    // Push is removing its temp name. By ctime, which a link sets and nobody can set back: an
    // mtime in the future (touch -d) kept a forged second link, and the numbers it names, forever.
    if (error.kind === 'hard-links' && young) return undefined;
    // Never read, never trusted; shown to whoever owns what lies there (a link's own owner).
    const uid = error.uid ?? 0;
    reject(ctx, { id, user: await userName(uid), uid, name: jobNameFromFile(name), submitted_at: now }, `${name} ${error.message}`);
    return { file, keepAs: rejectedPath(ctx, id) };
  }
  const user = await userName(owned.uid);
  const envelope = decodeEnvelope(owned.text);
  if ('error' in envelope || envelope.id !== id) {
    reject(
      ctx,
      { id, user, uid: owned.uid, name: jobNameFromFile(name), submitted_at: now },
      `${name}: ${'error' in envelope ? envelope.error : 'file name and job id differ'}`,
    );
    return { file, keepAs: rejectedPath(ctx, id) };
  }
  const stem = path.basename(envelope.source).replace(/\.(ya?ml|json)$/i, '');
  // The envelope's time, as push took it, but never before the file was linked here (less the
  // time a push may take to pack and publish): a hand-written time from long ago would put the
  // job first under fifo and in fair-share ties.
  const submitted_at = Math.max(Math.min(envelope.submitted_at, now), Math.min(owner.ctimeMs, now) - SUBMIT_SLACK_MS);
  const parsed = parseManifest(envelope.manifest, ctx.config, stem, owned.uid);
  if (!parsed.ok) {
    // The file's name only: the state is world-readable, and where the user keeps it is theirs.
    const reason = parsed.issues.some((issue) => issue.denied) ? 'foreign-image' : 'rejected';
    reject(
      ctx,
      { id, user, uid: owned.uid, name: jobNameFromFile(stem), submitted_at },
      `${sourceName(envelope.source)}:\n${formatIssues(withoutValues(parsed.issues))}`,
      reason,
    );
    return { file, keepAs: rejectedPath(ctx, id) };
  }
  const tasks = parsed.manifest.array?.indices.length ?? 1;
  if (tasks !== size) {
    const message = `${name}: the file holds ${size} job numbers, its manifest's array ${tasks} (push it with dopq push)`;
    reject(ctx, { id, user, uid: owned.uid, name: parsed.manifest.name, submitted_at }, message);
    return { file, keepAs: rejectedPath(ctx, id) };
  }
  const dependencies = await dependencyRefusal(ctx, parsed.manifest, id, owned.uid, numbers);
  if (dependencies === 'defer') return undefined;
  const refusal = dependencies ?? (await admissionRefusal(ctx, owned.uid, user, size));
  if (refusal) {
    reject(ctx, { id, user, uid: owned.uid, name: parsed.manifest.name, submitted_at }, refusal);
    return { file, keepAs: rejectedPath(ctx, id) };
  }
  const contextFile = envelope.context ? path.join(ctx.spool.intake, `${envelope.id}${CONTEXT_SUFFIX}`) : undefined;
  const also = contextFile ? [contextFile] : [];
  if (parsed.manifest.build || parsed.manifest.image_archive) {
    const problem = await claimContext(ctx, envelope, owned.uid, id);
    if (problem) {
      reject(ctx, { id, user, uid: owned.uid, name: parsed.manifest.name, submitted_at }, `${sourceName(envelope.source)}: ${problem}`);
      return { file, keepAs: rejectedPath(ctx, id), also };
    }
  }
  const image = parsed.manifest.image ?? jobImageTag(ctx.instance, owned.uid, id);
  const { array, after, after_any } = parsed.manifest;
  // An array is expanded here, at intake: one job per index, one pushed file for them all.
  const jobs = array ? arrayTasks(id, array) : [{ id, array: undefined }];
  const specs = jobs.map((task): JobSpec => ({
    id: task.id,
    uid: owned.uid,
    user,
    manifest: parsed.manifest,
    image,
    ...(task.array ? { array: task.array } : {}),
  }));
  await writeSpecs(ctx, specs);
  for (const task of jobs) {
    ctx.state.jobs.push({
      id: task.id,
      user,
      uid: owned.uid,
      name: parsed.manifest.name,
      image,
      gpus_requested: parsed.manifest.gpus,
      gpus: [],
      state: 'queued',
      submitted_at,
      time_limit: parsed.manifest.time_limit,
      ...(parsed.manifest.build
        ? { needs_image: 'build' as const }
        : parsed.manifest.image_archive
          ? { needs_image: 'load' as const }
          : {}),
      ...(parsed.manifest.requeue ? {} : { no_requeue: true as const }),
      ...(parsed.manifest.interactive ? { interactive: true as const } : {}),
      ...(task.array ? { array: task.array } : {}),
      ...(after.length > 0 ? { after } : {}),
      ...(after_any.length > 0 ? { after_any } : {}),
    } satisfies JobRecord);
  }
  const what = array ? `an array of ${jobs.length} tasks (${id}-${id + jobs.length - 1})` : parsed.manifest.name;
  ctx.log.info(`queued ${what} for ${user} (${parsed.manifest.gpus} GPUs${array ? ' each' : ''})`, id);
  return { file, also };
}

/** Each job's private spec (jobs/<id>.json, 0600), a few at a time: an array has one per task. */
async function writeSpecs(ctx: DaemonContext, specs: readonly JobSpec[]): Promise<void> {
  const width = 32;
  for (let i = 0; i < specs.length; i += width) {
    await Promise.all(
      specs.slice(i, i + width).map(async (spec) => {
        await writeFileAtomic(path.join(ctx.spool.jobs, `${spec.id}.json`), JSON.stringify(spec), { mode: 0o600 });
        ctx.specs.set(spec.id, spec);
      }),
    );
  }
}

/**
 * `after:`/`after_any:` checked as the daemon sees them: each an earlier job (so no cycle can
 * form), in the state, and the pusher's own unless they are an admin. `defer` when the job it
 * names is still a file in the intake that this pass has not taken in.
 */
async function dependencyRefusal(
  ctx: DaemonContext,
  manifest: Manifest,
  id: number,
  uid: number,
  numbers: Numbers,
): Promise<string | 'defer' | undefined> {
  const ids = [...manifest.after, ...manifest.after_any];
  if (ids.length === 0) return undefined;
  let admin: boolean | undefined;
  for (const dependency of ids) {
    const field = manifest.after.includes(dependency) ? 'after' : 'after_any';
    if (dependency >= id) return `${field}: job ${dependency} is not earlier than this job (${id}); a job may only wait for earlier ones`;
    const target = jobById(ctx, dependency);
    if (!target) {
      if (numbers.entries.some((entry) => entry.first <= dependency && dependency <= entry.last)) return 'defer';
      return `${field}: there is no job ${dependency}`;
    }
    if (target.uid !== uid && !(admin ??= isAdmin(await callerOf(uid), ctx.config.admins)))
      return `${field}: job ${dependency} is another user's; a job may wait only for its owner's jobs`;
  }
  return undefined;
}

/**
 * Copy the build context push packed into root's builds/<id>.tar, checking it is the job
 * owner's own file, whole and unchanged; returns why not, if not.
 */
async function claimContext(ctx: DaemonContext, envelope: Envelope, uid: number, id: number): Promise<string | undefined> {
  const ref = envelope.context;
  if (!ref || ref.file !== `${envelope.id}${CONTEXT_SUFFIX}`)
    return 'the job has no packed build context or image archive (push the manifest with dopq push)';
  const target = contextTarPath(ctx, id);
  await rm(target, { force: true }); // left by a pass that failed before saving the state
  // A tar holds 512 bytes of header per file plus padding; allow for that above the limit.
  const cap = Math.max(
    ctx.config.builds.archive_size,
    ctx.config.builds.context_size + ctx.config.builds.context_files * 1024 + 1024 * 1024,
  );
  const problem = await copyContext(path.join(ctx.spool.intake, ref.file), ref, uid, cap, target);
  if (problem) await rm(target, { force: true }); // only a verified copy stays
  return problem;
}

async function copyContext(file: string, ref: PackedContextRef, uid: number, cap: number, target: string): Promise<string | undefined> {
  try {
    const copied = await copyOwnedFile(file, cap, target);
    if (copied.uid !== uid) return `build: the build context ${ref.file} belongs to another user`;
    if (copied.bytes !== ref.bytes || copied.sha256 !== ref.sha256)
      return `build: the build context ${ref.file} changed after push packed it; push again`;
    return undefined;
  } catch (error) {
    if (error instanceof UnsafeFileError) return `build: the build context ${ref.file} ${error.message}`;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return `build: the build context ${ref.file} is missing; push again`;
    throw error;
  }
}

export function contextTarPath(ctx: DaemonContext, id: number): string {
  return path.join(ctx.spool.builds, `${id}.tar`);
}

/**
 * The issues as everyone may read them: the state is world-readable, and a value the owner wrote
 * (a token pasted into the wrong field, an unknown key) is theirs. Which field, on which line, and
 * what it expects stay; `dopq push` showed the owner the whole message before anything was queued.
 */
function withoutValues(issues: readonly Issue[]): Issue[] {
  return issues.map((issue) => ({ ...issue, message: withoutGivenValue(issue.message) }));
}

export function rejectedPath(ctx: DaemonContext, id: number): string {
  return path.join(ctx.spool.rejected, `${id}.job`);
}

/** Who may submit and how many jobs one user may have waiting, checked again whatever push said. */
async function admissionRefusal(ctx: DaemonContext, uid: number, user: string, jobs: number): Promise<string | undefined> {
  const { submitters, admins, limits } = ctx.config;
  if (submitters !== null && !maySubmit(await callerOf(uid), submitters, admins)) {
    return `${user} may not submit jobs here (not in submitters: ${submitters.join(', ')})`;
  }
  const cap = limits.per_user.queued;
  if (cap !== null) {
    const waiting = ctx.state.jobs.filter((job) => job.uid === uid && job.state === 'queued').length;
    // An array's tasks count one each.
    if (waiting + jobs > cap)
      return `${user} already has ${waiting} jobs waiting${jobs > 1 ? ` and pushed ${jobs} more` : ''}; at most ${cap} per user (limits.per_user.queued)`;
  }
  return undefined;
}

/** What a rejected record keeps of its reasons: enough to fix the file, bounded whatever it said. */
const REJECTED_MESSAGE_CHARS = 2048;

function reject(
  ctx: DaemonContext,
  job: Pick<JobRecord, 'id' | 'user' | 'uid' | 'name' | 'submitted_at'>,
  text: string,
  reason: 'rejected' | 'foreign-image' = 'rejected',
): void {
  const now = ctx.now();
  // Parts of it (file names, paths) are the user's own text: no terminal escapes for `dopq q`.
  const cleaned = text.replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g, '?');
  const message =
    cleaned.length > REJECTED_MESSAGE_CHARS
      ? `${cleaned.slice(0, REJECTED_MESSAGE_CHARS)}... (${cleaned.length - REJECTED_MESSAGE_CHARS} more characters cut)`
      : cleaned;
  ctx.state.jobs.push({
    ...job,
    image: '',
    gpus_requested: 0,
    gpus: [],
    state: 'rejected',
    reason,
    message,
    finished_at: now,
    time_limit: 0,
  });
  ctx.log.error(`rejected: ${message.replace(/\n/g, '; ')}`, job.id);
  dropOldestRejected(ctx, job.uid);
}

/** limits.per_user.rejected: past it the user's oldest rejected records go, with their files. */
function dropOldestRejected(ctx: DaemonContext, uid: number): void {
  const cap = ctx.config.limits.per_user.rejected;
  const theirs = ctx.state.jobs.filter((job) => job.uid === uid && job.state === 'rejected');
  if (theirs.length <= cap) return;
  const dropped = new Set(
    theirs
      .sort((a, b) => (a.finished_at ?? 0) - (b.finished_at ?? 0) || a.id - b.id)
      .slice(0, theirs.length - cap)
      .map((job) => job.id),
  );
  ctx.state.jobs = ctx.state.jobs.filter((job) => !dropped.has(job.id));
  retireIds(ctx.state, dropped);
  for (const id of dropped) void rm(rejectedPath(ctx, id), { force: true }).catch(() => undefined);
}

/** The name of the file the user pushed, as they named it, cut short: it goes into a record everyone reads. */
function sourceName(source: string): string {
  const base = path.basename(source);
  return base.length > 128 ? `${base.slice(0, 128)}...` : base;
}
