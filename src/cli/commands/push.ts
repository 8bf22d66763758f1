// `dopq push FILE`, `push -` (standard input) and `push --image I -- CMD`: validate here for fast
// feedback, take a job number (an array: as many consecutive ones), publish one file into the intake.
import { link, readdir, readFile, rm, stat } from 'node:fs/promises';
import { stringify } from 'yaml';
import { referenceRefusals } from '../../core/job/dockerfile-check.js';
import { readDockerfile } from '../../core/job/dockerfile-refs.js';
import { convertDopqConfig } from '../../core/job/dopq-compat.js';
import path from 'node:path';
import { encodeEnvelope, type PackedContextRef } from '../../core/job/envelope.js';
import { DopqError, ExitCode, formatIssues, InvalidDocumentError, PermissionError, SpoolError, type Issue } from '../../core/errors.js';
import { parseManifest, type BuildSpec, type Manifest } from '../../core/job/manifest.js';
import { defaultsBeyondHost, fitHost } from '../../core/config/fit-host.js';
import { localHostFigures } from '../../io/host/host-resources.js';
import { assertDiskRoom } from '../../io/files/disk.js';
import { readUserFile } from '../../io/files/user-file.js';
import { maySubmit } from '../../core/permissions.js';
import { pendingJobs } from '../../io/spool/pending.js';
import { readIdFloor } from '../../io/spool/seq.js';
import { readableSize } from '../../core/units.js';
import { freeJobRange, intakeJobName, numbersOfIntakeEntry, rangesOverlap } from '../../core/job/job-ids.js';
import { isAdmin } from '../../core/permissions.js';
import { hasFieldFlags, mergeManifest, nameFromCommand } from '../push-input.js';
import type { PushFlags } from '../push-flags.js';
import { readState } from '../../io/spool/state-store.js';
import { currentCaller } from '../../io/host/users.js';
import { assertSpoolReady, CONTEXT_SUFFIX, INTAKE_SUFFIX, NameTakenError, publish, spoolWriteError } from '../../io/spool/spool.js';
import type { PendingJob } from '../../core/state.js';
import type { CommandContext } from '../context.js';
import { assertMountsAccessible } from '../mount-access-check.js';

export interface PushOptions extends PushFlags {
  json?: boolean;
  /** Block until the job (each task of an array) ends; exit as `dopq wait` does. */
  wait?: boolean;
}

/**
 * `file`: a manifest, `-` for standard input, or undefined (flags alone); `command`: the words
 * after `--` (undefined without `--`). Flags override the manifest's fields.
 */
export async function pushCommand(
  ctx: CommandContext,
  file: string | undefined,
  command: string[] | undefined,
  options: PushOptions,
): Promise<number> {
  assertPushOperands(file, command, options);
  if (file === undefined) {
    return pushManifest(
      ctx,
      { subject: 'push', original: undefined, source: path.resolve('command-line'), defaultName: nameFromCommand(command) },
      options,
      command,
    );
  }
  if (file === '-') {
    const text = await readStandardInput(ctx.config.limits.manifest_bytes);
    return pushManifest(
      ctx,
      { subject: 'stdin', original: text, source: path.resolve('stdin'), defaultName: nameFromCommand(command) },
      options,
      command,
    );
  }
  // A zip or folder that is not there is a missing file like any other (readUserFile says so).
  if (
    await stat(file).then(
      (s) => s.isDirectory() || (/\.zip$/i.test(file) && s.isFile()),
      () => false,
    )
  )
    return pushDopqBundle(ctx, file, options, command);
  const text = await readUserFile(file, {
    what: 'the manifest',
    maxBytes: ctx.config.limits.manifest_bytes,
    limitName: 'limits.manifest_size',
  });
  return pushManifest(ctx, { subject: file, original: text, source: path.resolve(file) }, options, command);
}

/**
 * Usage errors in what was typed, before any config is read: `dopq push` with nothing to push
 * is exit 64 whatever the config says.
 */
export function assertPushOperands(file: string | undefined, command: string[] | undefined, options: PushOptions): void {
  if (command !== undefined && command.length === 0)
    throw new DopqError('usage', ExitCode.usage, '--: no command after it; write the command to run after --', 'push');
  if (file === undefined && !hasFieldFlags(options, command))
    throw new DopqError(
      'usage',
      ExitCode.usage,
      'give a manifest FILE, - to read one from standard input, or --image IMAGE -- COMMAND',
      'push',
      {
        hint: 'usage: dopq push FILE | dopq push - | dopq push --image IMAGE [--gpus N] ... -- COMMAND [ARGS...]',
      },
    );
}

/** Standard input up to the manifest limit; more is refused, not cut. */
async function readStandardInput(maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > maxBytes)
      throw new InvalidDocumentError('manifest', 'stdin', [
        { path: '', message: `the manifest is over ${maxBytes} bytes, the limit (limits.manifest_size)` },
      ]);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** DoPQ's zip or folder (Dockerfile + container_config.json), converted and pushed as a build. */
async function pushDopqBundle(ctx: CommandContext, input: string, options: PushOptions, command: string[] | undefined): Promise<number> {
  const limits = { bytes: ctx.config.builds.context_size, files: ctx.config.builds.context_files, ratio: 100 };
  const [{ openDopqBundle }, { ContextError }] = await Promise.all([import('../../io/files/dopq-bundle.js'), packing()]);
  let bundle;
  try {
    bundle = await openDopqBundle(input, limits);
  } catch (error) {
    if (error instanceof ContextError)
      throw new InvalidDocumentError(
        'manifest',
        input,
        error.problems.map((message) => ({ path: '', message })),
      );
    throw error;
  }
  try {
    const caller = await currentCaller();
    const converted = convertDopqConfig(await readFile(bundle.configFile, 'utf8'), caller.user, bundle);
    if (!converted.manifest)
      throw new InvalidDocumentError(
        'manifest',
        `${input} (container_config.json)`,
        converted.problems.map((message) => ({ path: '', message })),
      );
    const text = stringify(converted.manifest);
    // Relative paths in the converted manifest are relative to the folder of container_config.json.
    return await pushManifest(ctx, { subject: input, original: text, source: bundle.configFile }, options, command);
  } finally {
    await bundle.cleanup();
  }
}

/** Where a manifest came from: the subject of its errors, its text (none for flags alone), the path relative paths start from. */
interface ManifestInput {
  subject: string;
  original: string | undefined;
  source: string;
  /** The job's name when neither the manifest nor --name gives one (stdin and flags alone; a file's is its stem). */
  defaultName?: string;
}

async function pushManifest(
  ctx: CommandContext,
  input: ManifestInput,
  options: PushOptions,
  command: string[] | undefined,
): Promise<number> {
  const file = input.subject;
  const stem = path.basename(file).replace(/\.(ya?ml|json|zip)$/i, '');
  // One validation path: flags become fields of the manifest text, then its issues name the flag.
  const merged =
    input.original !== undefined && input.defaultName === undefined && !hasFieldFlags(options, command)
      ? { text: input.original, nameIssue: (issue: Issue) => issue }
      : mergeManifest(input.original, options, command, input.defaultName);
  const text = merged.text;
  // This host is one more limit, read here without the engine; the daemon checks again with the engine's figures.
  const host = localHostFigures();
  const result = parseManifest(text, fitHost(ctx.config, host).config, stem, process.getuid?.());
  if (!result.ok) {
    const issues = result.issues.map((issue) => merged.nameIssue(issue));
    if (issues.some((issue) => issue.denied)) throw new PermissionError(file, formatIssues(issues));
    throw new InvalidDocumentError('manifest', file, issues);
  }
  const overDefaults = defaultsBeyondHost(result.manifest, host);
  if (overDefaults.length > 0)
    throw new InvalidDocumentError('manifest', file, overDefaults, {
      hint: 'or ask an admin to fit the defaults to the host (dopq doctor)',
    });
  await assertMountsAccessible(file, result.manifest.mounts);
  if (result.manifest.build)
    checkBaseImages(
      ctx,
      file,
      result.manifest.build,
      await readFile(
        path.join(path.resolve(path.dirname(input.source), result.manifest.build.context), result.manifest.build.dockerfile),
        'utf8',
      ).catch(() => undefined),
    );
  await assertSpoolReady(ctx.spool);
  const tasks = result.manifest.array?.indices.length ?? 1;
  await checkAdmission(ctx, tasks);
  await checkDependencies(ctx, file, result.manifest, (field) => merged.nameIssue({ path: field, message: '' }));
  const id = await publishJob(ctx, text, input.source, result.manifest);
  const ids = Array.from({ length: tasks }, (_, i) => id + i);
  // --wait --json: one object, wait's (it holds the ids), not two.
  if (options.wait && options.json) return (await import('./wait.js')).waitForJobs(ctx, ids, ctx.io, { json: true });
  // An array's id is its first task's; the tasks hold the numbers up to last_id.
  ctx.io.out(options.json ? `${JSON.stringify(tasks > 1 ? { id, last_id: id + tasks - 1 } : { id })}\n` : `${id}\n`);
  if (options.wait) return (await import('./wait.js')).waitForJobs(ctx, ids, ctx.io);
  return ExitCode.ok;
}

/** A packed build context or archive, and where it lies now (it moves with each number tried). */
interface Packed {
  file: string;
  bytes: number;
  sha256: string;
}

/**
 * Claim the lowest free job number and publish under it; a number whose name is taken meanwhile
 * is skipped. A build context or archive is packed once, first, and linked to `<id>.ctx` before
 * the job file goes in, so the daemon never sees a job without its context. Whatever fails (a
 * full disk), nothing is left in the intake.
 */
export async function publishJob(ctx: CommandContext, manifest: string, source: string, parsed: Manifest): Promise<number> {
  if (parsed.build || parsed.image_archive) await assertDiskRoom(ctx);
  const size = parsed.array?.indices.length ?? 1;
  let packed: Packed | undefined;
  try {
    if (parsed.build || parsed.image_archive) packed = await packOnce(ctx, parsed, source);
    const { floor, taken } = await numbersInUse(ctx);
    // Every miss adds a name to `taken`, so this ends; the bound only keeps a pathological
    // intake (another user's flood) from holding a push for long.
    for (let attempt = 0; attempt < 10_000; attempt++) {
      const id = freeJobRange(floor, taken, size);
      if (id === undefined) break;
      const published = await publishAs(ctx, id, { manifest, source }, packed, size);
      if (published === 'published') {
        packed = undefined; // the job owns it now
        return id;
      }
      if (published === 'raced') {
        // Another push took some of these numbers meanwhile: look again from what lies there now.
        const now = await numbersInUse(ctx);
        taken.push(...now.taken, { first: id, last: id + size - 1 });
        continue;
      }
      taken.push({ first: id, last: id + size - 1 });
    }
    throw new SpoolError(ctx.spool.intake, 'no free job number: the intake is full of files holding them', {
      hint: 'push again in a moment; if it lasts, ask an admin to look at the intake folder',
    });
  } catch (error) {
    if (!(error instanceof SpoolError)) throw error;
    throw new SpoolError(error.subject ?? ctx.spool.intake, `${error.message}; nothing was queued`, {
      cause: error.cause ?? error,
      ...(error.hint ? { hint: error.hint } : {}),
    });
  } finally {
    if (packed) await rm(packed.file, { force: true });
  }
}

/** Publish job `id` with its context; false when a file already holds that number (it is skipped). */
async function publishAs(
  ctx: CommandContext,
  id: number,
  job: { manifest: string; source: string },
  packed: Packed | undefined,
  size: number,
): Promise<'published' | 'taken' | 'raced'> {
  let context: PackedContextRef | undefined;
  if (packed) {
    const name = `${id}${CONTEXT_SUFFIX}`;
    const target = path.join(ctx.spool.intake, name);
    // A link is exclusive: never over another file, whoever's. The old name goes at once, so
    // the daemon finds one link when it reads the context.
    try {
      await link(packed.file, target);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'EPERM' || code === 'EACCES') return 'taken';
      throw spoolWriteError(target, 'the build context', error);
    }
    await rm(packed.file, { force: true });
    packed.file = target;
    context = { file: name, bytes: packed.bytes, sha256: packed.sha256 };
  }
  const name = intakeJobName(id, id + size - 1);
  try {
    await publish(
      ctx.spool.intake,
      name,
      encodeEnvelope({ id, submitted_at: Date.now(), ...job, ...(context ? { context } : {}) }),
      0o600,
      true,
    );
  } catch (error) {
    if (error instanceof NameTakenError) return 'taken'; // the context moves on to the next number
    throw error;
  }
  return (await keptAfterRace(ctx, name, { first: id, last: id + size - 1 })) ? 'published' : 'raced';
}

/**
 * A name is exclusive, a range of numbers is not: an array's `<first>-<last>.job` and another
 * push's `<n>.job` inside it can both be linked. So each push looks again once its file is in:
 * when another file holds one of its numbers, or the daemon's floor has passed its first one, it
 * takes its file back and tries further on. Of two files that overlap, the one linked later sees
 * the other, so at most one stays; the daemon takes in the one linked first (intake.ts). A file
 * the daemon has already taken in cannot be taken back: it stays, and the other push gives way.
 */
async function keptAfterRace(ctx: CommandContext, name: string, mine: { first: number; last: number }): Promise<boolean> {
  // Listed before the floor is read, as numbersInUse does, so a number the daemon took is seen one way or the other.
  const names = await readdir(ctx.spool.intake).catch(() => [] as string[]);
  const floor = (await readIdFloor(ctx.spool.seq)) ?? 0;
  const clash =
    floor >= mine.first ||
    names.some((other) => {
      if (other === name || !other.endsWith(INTAKE_SUFFIX)) return false;
      const range = numbersOfIntakeEntry(other);
      return range !== undefined && rangesOverlap(range, mine);
    });
  if (!clash) return true;
  try {
    await rm(path.join(ctx.spool.intake, name));
    return false;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true; // the daemon has it
    throw spoolWriteError(path.join(ctx.spool.intake, name), 'the job file', error);
  }
}

/**
 * The floor the daemon wrote and the numbers intake files hold above it. The intake is listed
 * before the floor is read: the daemon raises the floor before it removes the files it took,
 * so a number is either still listed or already below the floor, never missed.
 */
async function numbersInUse(ctx: CommandContext): Promise<{ floor: number; taken: { first: number; last: number }[] }> {
  const names = await readdir(ctx.spool.intake).catch(() => [] as string[]);
  const floor = (await readIdFloor(ctx.spool.seq)) ?? (await highestIdInState(ctx));
  const taken: { first: number; last: number }[] = [];
  for (const name of names) {
    const range = numbersOfIntakeEntry(name);
    if (range !== undefined && range.last > floor) taken.push(range);
  }
  return { floor, taken };
}

/** A spool whose daemon never wrote the floor (new, or the file damaged): the state's highest id. */
async function highestIdInState(ctx: CommandContext): Promise<number> {
  const state = await readState(ctx.spool.state).catch(() => undefined);
  return (state?.jobs ?? []).reduce((max, job) => Math.max(max, job.id), 0);
}

/** The packer (tar-stream, .dockerignore rules), loaded only by a push that has something to pack. */
const packing = () => import('../../io/files/context-pack.js');

/** Pack the build context (or copy the archive) into the intake under a temp name. */
async function packOnce(ctx: CommandContext, parsed: Manifest, source: string): Promise<Packed> {
  const temp = path.join(ctx.spool.intake, `.push-${process.pid}-${Date.now()}${CONTEXT_SUFFIX}`);
  const here = path.dirname(source);
  const { ContextError, copyArchive, packContext } = await packing();
  try {
    const packed = parsed.build
      ? await packContext(
          path.resolve(here, parsed.build.context),
          parsed.build.dockerfile,
          { bytes: ctx.config.builds.context_size, files: ctx.config.builds.context_files },
          temp,
        )
      : await copyArchive(path.resolve(here, parsed.image_archive!), ctx.config.builds.archive_size, temp);
    return { file: temp, bytes: (await stat(temp)).size, sha256: packed.sha256 };
  } catch (error) {
    await rm(temp, { force: true });
    if (error instanceof ContextError)
      throw new InvalidDocumentError(
        'manifest',
        source,
        error.problems.map((message) => ({ path: parsed.build ? 'build.context' : 'image_archive', message })),
      );
    throw error;
  }
}

/**
 * Base images the daemon would refuse, refused now with the Dockerfile's line: another user's
 * job image is a permission refusal (77), the rest are mistakes in the Dockerfile (65).
 */
function checkBaseImages(ctx: CommandContext, file: string, build: BuildSpec, dockerfile: string | undefined): void {
  if (dockerfile === undefined) return; // the packer names the missing Dockerfile
  const uid = process.getuid?.() ?? 0;
  const refusals = referenceRefusals(readDockerfile(dockerfile, build.args), { uid, allowed: ctx.config.images.allowed });
  if (refusals.length === 0) return;
  // The lines are the Dockerfile's, not the manifest's: they go into the message.
  const issues = refusals.map((refusal) => ({ path: 'build', message: `${build.dockerfile} line ${refusal.line}: ${refusal.message}` }));
  if (refusals.some((refusal) => refusal.foreign)) throw new PermissionError(file, formatIssues(issues));
  throw new InvalidDocumentError('manifest', file, issues);
}

/** The config's submitters and per-user queue cap, checked early; the daemon checks again. */
export async function checkAdmission(ctx: CommandContext, tasks: number): Promise<void> {
  const { submitters, admins, limits } = ctx.config;
  if (submitters !== null) {
    const caller = await currentCaller();
    if (!maySubmit(caller, submitters, admins)) {
      throw new PermissionError('push', `${caller.user} may not submit jobs here`, {
        hint: `the config's submitters are: ${submitters.join(', ')}; ask an admin to add you`,
      });
    }
  }
  // The daemon reads nothing new above the ceiling: say so now rather than leave the job waiting.
  const stateBytes = (await stat(ctx.spool.state).catch(() => undefined))?.size ?? 0;
  if (stateBytes > limits.state_size) {
    throw new DopqError(
      'queue-full',
      ExitCode.tempFail,
      `the queue's state is ${readableSize(stateBytes)}, over limits.state_size (${readableSize(limits.state_size)}); nothing was queued`,
      'push',
      {
        hint: 'push again once finished jobs have aged out (history.keep), or ask an admin',
      },
    );
  }
  const cap = limits.per_user.queued;
  if (cap === null) return;
  const uid = process.getuid?.() ?? -1;
  const [state, pending] = await Promise.all([readState(ctx.spool.state), pendingJobs(ctx.spool.intake)]);
  const known = new Set(state.jobs.map((job) => job.id));
  // An array's tasks count one each, in the intake as in the state.
  const waiting =
    state.jobs.filter((job) => job.uid === uid && job.state === 'queued').length +
    pending.filter((job) => job.uid === uid && !known.has(job.id)).reduce((sum, job) => sum + (job.tasks ?? 1), 0);
  if (waiting + tasks > cap) {
    throw new DopqError(
      'queue-full',
      ExitCode.tempFail,
      `you already have ${waiting} jobs waiting${tasks > 1 ? `, and this array has ${tasks}` : ''}; at most ${cap} per user (limits.per_user.queued)`,
      'push',
      {
        hint: 'push again once some have started, or dopq rm jobs you no longer need',
      },
    );
  }
}

/**
 * `after:`/`after_any:`: each id a job in the state or the intake, and the caller's own unless
 * they are an admin (all jobs are visible, but waiting on another user's is refused: their
 * cancel would cancel yours). The daemon checks again, and that each is earlier than the job.
 */
async function checkDependencies(ctx: CommandContext, file: string, manifest: Manifest, name: (field: string) => Issue): Promise<void> {
  const wanted = [...manifest.after.map((id) => ['after', id] as const), ...manifest.after_any.map((id) => ['after_any', id] as const)];
  if (wanted.length === 0) return;
  const [state, pending] = await Promise.all([readState(ctx.spool.state), pendingJobs(ctx.spool.intake)]);
  const uid = process.getuid?.() ?? -1;
  const owners = new Map<number, number>(state.jobs.map((job) => [job.id, job.uid]));
  const ownerOf = (id: number): number | undefined => owners.get(id) ?? pendingOwner(pending, id);
  const unknown: Issue[] = [];
  const foreign: Issue[] = [];
  let admin: boolean | undefined;
  for (const [field, id] of wanted) {
    const owner = ownerOf(id);
    if (owner === undefined) unknown.push({ ...name(field), message: `there is no job ${id}` });
    else if (owner !== uid && !(admin ??= isAdmin(await currentCaller(), ctx.config.admins)))
      foreign.push({ ...name(field), message: `job ${id} is another user's; a job may wait only for its owner's jobs`, denied: true });
  }
  if (foreign.length > 0) throw new PermissionError(file, formatIssues([...unknown, ...foreign]));
  if (unknown.length > 0) throw new InvalidDocumentError('manifest', file, unknown, { hint: 'dopq q lists the jobs there are' });
}

/** The owner of a job still in the intake: a file holding its number (an array's holds a range). */
function pendingOwner(pending: readonly PendingJob[], id: number): number | undefined {
  return pending.find((job) => job.id <= id && id < job.id + (job.tasks ?? 1))?.uid;
}
