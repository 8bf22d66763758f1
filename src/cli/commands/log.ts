// `dopq log ID [-f]`: a job's output, from the log file the daemon keeps for its owner (0600).
import { open, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DopqError, ExitCode, NotFoundError, PermissionError } from '../../core/errors.js';
import { isFinished } from '../../core/job/job.js';
import { readState } from '../../io/spool/state-store.js';
import { mayActOnJob } from '../../core/permissions.js';
import { currentCaller } from '../../io/host/users.js';
import type { CommandContext } from '../context.js';

/** `id`: a job id, checked as commander parsed it (cli/args.ts). */
export async function logCommand(ctx: CommandContext, id: number, options: { follow?: boolean }): Promise<number> {
  const file = path.join(ctx.spool.logs, `${id}.log`);
  const jobState = async () => (await readState(ctx.spool.state)).jobs.find((job) => job.id === id);
  let job = await jobState();
  // Pushed but not read by the daemon yet: with -f, wait for it rather than call it unknown.
  const pending = () =>
    stat(path.join(ctx.spool.intake, `${id}.job`)).then(
      () => true,
      () => false,
    );
  while (options.follow && !job && (await pending())) {
    await sleep(250);
    job = await jobState();
  }
  if (job && !mayActOnJob('log', job, await currentCaller(), ctx.config.admins)) {
    // Output often holds secrets; the file is the owner's (0600) anyway, so say so plainly.
    throw new PermissionError(`job ${id}`, `${job.user}'s job: only its owner or root may read its output`, {
      hint: 'admins read any log as root: sudo dopq log ID',
    });
  }

  // A built job's output starts with its build's (logs/<id>.build.log), then its run's.
  const build = await openLog(path.join(ctx.spool.logs, `${id}.build.log`), id, true);
  const buildReader = reader(build, ctx);
  await buildReader.drain();
  if (options.follow && build) {
    for (let current = job; current && (current.state === 'building' || current.needs_image); current = await jobState()) {
      await sleep(250);
      await buildReader.drain();
    }
    await buildReader.drain();
  }
  await build?.close();

  let handle = await openLog(file, id, job !== undefined);
  let run = reader(handle, ctx);
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
        run = reader(handle, ctx);
      }
      await run.drain();
      if (current && isFinished(current)) {
        await sleep(200); // the daemon saves the last output just before recording the end
        await run.drain();
        return ExitCode.ok;
      }
      await sleep(250);
    }
  } finally {
    await handle?.close();
  }
}

/** Prints what was appended to a log since the last call. */
function reader(handle: FileHandle | undefined, ctx: CommandContext): { drain(): Promise<void> } {
  let offset = 0;
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
