// `dopq log ID [-f] [--tail N] [--since DURATION]`: a job's output, from the log file the daemon
// keeps for its owner (0600). With -f it follows the job until it ends, then exits as `dopq wait`
// does (core/job/wait-code.ts).
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DopqError, ExitCode, NotFoundError, PermissionError } from '../../core/errors.js';
import { isFinished, type JobRecord } from '../../core/job/job.js';
import type { JobRef } from '../../core/job/job-ref.js';
import { waitCode } from '../../core/job/wait-code.js';
import { readState } from '../../io/spool/state-store.js';
import { logTimesFile } from '../../io/files/job-log.js';
import { mayActOnJob } from '../../core/permissions.js';
import { currentCaller } from '../../io/host/users.js';
import type { CommandContext } from '../context.js';
import { intakeNumbers, knownJobs, noSuchJob, resolve } from '../job-targets.js';

export interface LogOptions {
  follow?: boolean;
  /** Only the last N lines (of the build's and the run's output together). */
  tail?: number;
  /** Only output written in the last so many seconds. */
  since?: number;
}

/** How often `-f` looks for new output; the state is parsed again only when the file changed. */
const FOLLOW_POLL_MS = 250;

/** `ref`: a job id or one task, checked as commander parsed it (cli/args.ts). */
export async function logCommand(ctx: CommandContext, ref: JobRef, options: LogOptions = {}): Promise<number> {
  const id = ref.kind === 'job' ? ref.id : await taskId(ctx, ref);
  const file = path.join(ctx.spool.logs, `${id}.log`);
  const jobState = stateReader(ctx, id);
  let job = await jobState();
  // Pushed but not read by the daemon yet: with -f, wait for it rather than call it unknown.
  const pending = () =>
    intakeNumbers(ctx.spool.intake).then(
      (numbers) => numbers.has(id),
      () => false,
    );
  while (options.follow && !job && (await pending())) {
    await sleep(FOLLOW_POLL_MS);
    job = await jobState();
  }
  job ??= await jobState(); // read and saved by the daemon between the two looks above
  if (job && !mayActOnJob('log', job, await currentCaller(), ctx.config.admins)) {
    // Output often holds secrets; the file is the owner's (0600) anyway, so say so plainly.
    throw new PermissionError(`job ${id}`, `${job.user}'s job: only its owner or root may read its output`, {
      hint: 'admins read any log as root: sudo dopq log ID',
    });
  }

  // A built job's output starts with its build's (logs/<id>.build.log), then its run's.
  const since = options.since === undefined ? undefined : Date.now() - options.since * 1000;
  const build = await openLog(path.join(ctx.spool.logs, `${id}.build.log`), id, true);
  let handle = await openLog(file, id, job !== undefined);
  const starts = await startOffsets(build, handle, file, options.tail, since);
  const buildReader = reader(build, ctx, starts.build);
  await buildReader.drain();
  if (options.follow && build) {
    for (let current = job; current && (current.state === 'building' || current.needs_image); current = await jobState()) {
      await sleep(FOLLOW_POLL_MS);
      await buildReader.drain();
    }
    await buildReader.drain();
  }
  await build?.close();

  let run = reader(handle, ctx, starts.run);
  try {
    await run.drain();
    if (!options.follow) {
      if (!handle && !build) {
        const why =
          job && isFinished(job)
            ? `the job never ran (${job.state}${job.message ? `: ${job.message.split('\n')[0]}` : ''})`
            : 'the job has not started yet';
        throw new DopqError('no-log', ExitCode.noSuchJob, `no output: ${why}`, `job ${id}`);
      }
      return ExitCode.ok;
    }
    for (;;) {
      const current = await jobState();
      if (!handle) {
        handle = await openLog(file, id, current !== undefined);
        run = reader(handle, ctx, 0);
      }
      await run.drain();
      if (current && isFinished(current)) {
        await sleep(200); // the daemon saves the last output just before recording the end
        await run.drain();
        return waitCode(current) ?? ExitCode.ok;
      }
      await sleep(FOLLOW_POLL_MS);
    }
  } finally {
    await handle?.close();
  }
}

/** The job id of task `17_3`, from the state (an unknown task is 66). */
async function taskId(ctx: CommandContext, ref: JobRef): Promise<number> {
  const [resolved] = resolve([ref], await knownJobs(ctx));
  if (!resolved || resolved.ids.length !== 1) throw noSuchJob(ref);
  return resolved.ids[0]!;
}

/** The job's record, parsed again only when the state file was replaced since the last look. */
function stateReader(ctx: CommandContext, id: number): () => Promise<JobRecord | undefined> {
  let version: string | undefined;
  let job: JobRecord | undefined;
  return async () => {
    const info = await stat(ctx.spool.state).catch(() => undefined);
    const now = info ? `${info.ino}:${info.size}:${info.mtimeMs}` : 'none';
    if (now !== version) {
      job = (await readState(ctx.spool.state)).jobs.find((j) => j.id === id);
      version = now;
    }
    return job;
  };
}

/**
 * Where printing starts in the build's and the run's log: with `tail`, the last N lines of the
 * two together; with `since`, the first line the run wrote since then (its times file says
 * where), the build's output only if the build log was written since; both: the later start.
 */
async function startOffsets(
  build: FileHandle | undefined,
  run: FileHandle | undefined,
  runFile: string,
  tail: number | undefined,
  since: number | undefined,
): Promise<{ build: number; run: number }> {
  const size = async (handle: FileHandle | undefined) => (handle ? (await handle.stat()).size : 0);
  let starts = { build: 0, run: 0 };
  if (tail !== undefined) {
    const fromRun = run ? await tailStart(run, tail) : { offset: 0, lines: 0 };
    const fromBuild =
      build && fromRun.lines < tail ? await tailStart(build, tail - fromRun.lines) : { offset: await size(build), lines: 0 };
    starts = { build: fromBuild.offset, run: fromRun.offset };
  }
  if (since !== undefined) {
    const buildSince = build && (await build.stat()).mtimeMs >= since ? 0 : await size(build);
    const runSince = run ? await offsetSince(run, runFile, since) : 0;
    starts = { build: Math.max(starts.build, buildSince), run: Math.max(starts.run, runSince) };
  }
  return starts;
}

/** The offset where the last `lines` lines of the file begin, and how many lines there are from it. */
async function tailStart(handle: FileHandle, lines: number): Promise<{ offset: number; lines: number }> {
  const size = (await handle.stat()).size;
  if (lines === 0) return { offset: size, lines: 0 };
  const chunk = Buffer.alloc(64 * 1024);
  let found = 0;
  let end = size;
  // A last line without its newline counts as a line too; the file's final newline ends it.
  let skipFinal = true;
  while (end > 0) {
    const start = Math.max(0, end - chunk.length);
    const { bytesRead } = await handle.read(chunk, 0, end - start, start);
    for (let i = bytesRead - 1; i >= 0; i -= 1) {
      if (chunk[i] !== 0x0a) {
        skipFinal = false;
        continue;
      }
      if (skipFinal && start + i === size - 1) {
        skipFinal = false;
        continue;
      }
      found += 1;
      if (found === lines) return { offset: start + i + 1, lines };
    }
    end = start;
  }
  return { offset: 0, lines: size === 0 ? 0 : found + 1 };
}

/**
 * The start of the first line written at or after `since` (ms), from the times file beside the
 * log (to the second); without one, all of the log if it was written to since then, else none.
 */
async function offsetSince(handle: FileHandle, file: string, since: number): Promise<number> {
  const info = await handle.stat();
  const times = await readFile(logTimesFile(file), 'utf8').catch(() => undefined);
  if (times === undefined) return info.mtimeMs >= since ? 0 : info.size;
  let offset = info.size;
  for (const line of times.split('\n')) {
    const [at, where] = line.split(' ').map(Number);
    if (at !== undefined && where !== undefined && Number.isFinite(at) && Number.isFinite(where) && at >= since) {
      offset = Math.min(where, info.size);
      break;
    }
  }
  return lineStart(handle, offset);
}

/** `offset` moved back to the start of the line it falls in. */
async function lineStart(handle: FileHandle, offset: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024);
  for (let end = offset; end > 0;) {
    const start = Math.max(0, end - chunk.length);
    const { bytesRead } = await handle.read(chunk, 0, end - start, start);
    const newline = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
    if (newline >= 0) return start + newline + 1;
    end = start;
  }
  return 0;
}

/** Prints what was appended to a log since the last call, from `offset` on. */
function reader(handle: FileHandle | undefined, ctx: CommandContext, offset: number): { drain(): Promise<void> } {
  const buffer = Buffer.alloc(64 * 1024);
  return {
    async drain() {
      if (!handle) return;
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
        if (bytesRead === 0) return;
        offset += bytesRead;
        ctx.io.out(buffer.subarray(0, bytesRead).toString('utf8'));
      }
    },
  };
}

async function openLog(file: string, id: number, known: boolean): Promise<FileHandle | undefined> {
  try {
    return await open(file, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES') throw new PermissionError(`job ${id}`, "another user's job: only its owner or root may read its output");
    if (code === 'ENOENT' && !known) throw new NotFoundError(`job ${id}`, 'no such job');
    if (code === 'ENOENT') return undefined;
    throw error;
  }
}
