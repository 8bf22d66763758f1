// Reading what users dropped into the intake: each file becomes a queued job or a rejected one
// (with its reasons, shown to its owner in `dopq q`). A bad file never stops the others.
import { jobNameFromFile } from '../../core/job/file-name.js';
import path from 'node:path';
import { lstat, rename, rm, stat } from 'node:fs/promises';
import { highestPushedId } from '../../core/job/job-ids.js';
import { readableSize } from '../../core/units.js';
import { decodeEnvelope, type Envelope, type PackedContextRef } from '../../core/job/envelope.js';
import { withoutGivenValue } from '../../core/document/schema-issues.js';
import { formatIssues, type Issue } from '../../core/errors.js';
import { jobImageTag, type JobRecord, type JobSpec } from '../../core/job/job.js';
import { parseManifest } from '../../core/job/manifest.js';
import { maySubmit } from '../../core/permissions.js';
import { writeFileAtomic } from '../../io/files/atomic-write.js';
import { copyOwnedFile, readOwnedFile, UnsafeFileError } from '../../io/files/safe-read.js';
import { CONTEXT_SUFFIX, discardEntry, INTAKE_SUFFIX, jobIdOfIntakeName, listDropped } from '../../io/spool/spool.js';
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
  const numbers = { floor: ctx.state.jobs.reduce((max, job) => Math.max(max, job.id), ctx.idFloor), waiting: numberedEntries };
  const consumed: Consumed[] = [];
  for (const name of await listDropped(ctx.spool.intake, INTAKE_SUFFIX)) {
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

/** Push links a new file and removes its temp name a moment later: two links that young are that. */
const PUBLISH_GRACE_MS = 30_000;

async function ingestFile(
  ctx: DaemonContext,
  file: string,
  name: string,
  numbers: { floor: number; waiting: number },
  refusals: RefusalSummary,
): Promise<Consumed | undefined> {
  const now = ctx.now();
  const owner = await lstat(file).catch(() => undefined);
  if (!owner) return undefined; // withdrawn by its owner
  // The number is checked before the file is read: a name push cannot have made costs one lstat.
  const id = jobIdOfIntakeName(name);
  if (id === undefined) return dropUnread(ctx, file, owner.uid, refusals, 'not named <job number>.job, as dopq push names job files');
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
    if (error.kind === 'hard-links' && now - owner.mtimeMs < PUBLISH_GRACE_MS) return undefined; // push is removing its temp name
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
  const submitted_at = Math.min(envelope.submitted_at, now);
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
  const refusal = await admissionRefusal(ctx, owned.uid, user);
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
  const spec: JobSpec = { id, uid: owned.uid, user, manifest: parsed.manifest, image };
  await writeFileAtomic(path.join(ctx.spool.jobs, `${id}.json`), JSON.stringify(spec), { mode: 0o600 });
  ctx.specs.set(id, spec);
  const job: JobRecord = {
    id,
    user,
    uid: owned.uid,
    name: parsed.manifest.name,
    image,
    gpus_requested: parsed.manifest.gpus,
    gpus: [],
    state: 'queued',
    submitted_at,
    time_limit: parsed.manifest.time_limit,
    ...(parsed.manifest.build ? { needs_image: 'build' as const } : parsed.manifest.image_archive ? { needs_image: 'load' as const } : {}),
    ...(parsed.manifest.requeue ? {} : { no_requeue: true as const }),
    ...(parsed.manifest.interactive ? { interactive: true as const } : {}),
  };
  ctx.state.jobs.push(job);
  ctx.log.info(`queued ${job.name} for ${user} (${job.gpus_requested} GPUs)`, id);
  return { file, also };
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
async function admissionRefusal(ctx: DaemonContext, uid: number, user: string): Promise<string | undefined> {
  const { submitters, admins, limits } = ctx.config;
  if (submitters !== null && !maySubmit(await callerOf(uid), submitters, admins)) {
    return `${user} may not submit jobs here (not in submitters: ${submitters.join(', ')})`;
  }
  const cap = limits.per_user.queued;
  if (cap !== null) {
    const waiting = ctx.state.jobs.filter((job) => job.uid === uid && job.state === 'queued').length;
    if (waiting >= cap) return `${user} already has ${waiting} jobs waiting; at most ${cap} per user (limits.per_user.queued)`;
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
