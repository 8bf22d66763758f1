// `dopq q`: the queue as tables, or as one JSON object for scripts.
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { decodeEnvelope } from '../../core/envelope.js';
import { ExitCode } from '../../core/errors.js';
import { buildQueueView, type PendingJob } from '../../core/queue-view.js';
import { renderQueue } from '../../core/render.js';
import { daemonAlive } from '../../io/daemon-lock.js';
import { jobIdOfIntakeName } from '../../io/spool.js';
import { readState } from '../../io/state-store.js';
import { userName } from '../../io/users.js';
import type { CommandContext } from '../context.js';
import { colorLevel } from '../color.js';

export async function queueCommand(ctx: CommandContext, options: { json?: boolean; all?: boolean }): Promise<number> {
  const [state, pending, alive] = await Promise.all([readState(ctx.spool.state), pendingJobs(ctx.spool.intake), daemonAlive(ctx.spool.daemonPid)]);
  const now = Date.now();
  const view = buildQueueView(state, pending, { now, halfLifeSeconds: ctx.config.penalty.half_life, daemonAlive: alive, all: Boolean(options.all) });
  if (options.json) ctx.io.out(`${JSON.stringify(view)}\n`);
  else ctx.io.out(renderQueue(view, { now, colorLevel: colorLevel(ctx.io.isTTY, ctx.env) }));
  return ExitCode.ok;
}

/** Jobs pushed but not yet read by the daemon: owner from the file, details if we may read it. */
export async function pendingJobs(intake: string): Promise<PendingJob[]> {
  let names: string[];
  try {
    names = await readdir(intake);
  } catch {
    return [];
  }
  const jobs = await Promise.all(
    names.map(async (name): Promise<PendingJob | undefined> => {
      const id = jobIdOfIntakeName(name);
      if (id === undefined) return undefined;
      const file = path.join(intake, name);
      try {
        const info = await stat(file);
        const job: PendingJob = { id, uid: info.uid, user: await userName(info.uid), submitted_at: info.mtimeMs };
        const details = await readEnvelopeIfAllowed(file);
        return details ? { ...job, ...details } : job;
      } catch {
        return undefined; // ingested meanwhile
      }
    }),
  );
  return jobs.filter((job): job is PendingJob => job !== undefined);
}

async function readEnvelopeIfAllowed(file: string): Promise<{ submitted_at: number; name?: string; gpus_requested?: number } | undefined> {
  try {
    const handle = await open(file, 'r');
    try {
      const envelope = decodeEnvelope(await handle.readFile('utf8'));
      if ('error' in envelope) return undefined;
      const name = /^name:\s*["']?([A-Za-z0-9][A-Za-z0-9_.-]*)/m.exec(envelope.manifest)?.[1] ?? path.basename(envelope.source).replace(/\.(ya?ml|json)$/i, '');
      const gpus = /^gpus:\s*(\d+)\s*$/m.exec(envelope.manifest)?.[1];
      return { submitted_at: envelope.submitted_at, name, ...(gpus ? { gpus_requested: Number(gpus) } : {}) };
    } finally {
      await handle.close();
    }
  } catch {
    return undefined; // another user's job: private
  }
}
