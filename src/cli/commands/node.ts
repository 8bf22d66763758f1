// `dopq node-run ID` and `dopq node-epilog`: the root helpers on a Slurm node (hidden commands).
// node-run runs a job's container for its batch script; node-epilog (Slurm's Epilog) removes
// whatever container an ending Slurm job left.
import { realpath } from 'node:fs/promises';
import { LABEL_SLURM_JOB } from '../../core/job/container-spec.js';
import { DopqError, ExitCode, PermissionError } from '../../core/errors.js';
import { slurmAllocation } from '../../core/slurm/node-job.js';
import { instanceId } from '../../daemon/context.js';
import { nodeRun } from '../../daemon/slurm/node-run.js';
import { createDockerEngine, removeLabelledJobContainers } from '../../io/docker/docker.js';
import type { CommandContext } from '../context.js';

function assertRoot(command: string): void {
  if ((process.geteuid?.() ?? 0) !== 0)
    throw new PermissionError(command, 'runs only as root', { hint: 'see "More than one server" in the README' });
}

export async function nodeRunCommand(ctx: CommandContext, id: number): Promise<number> {
  assertRoot('node-run');
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    return await nodeRun(
      { config: ctx.config, spool: ctx.spool, engine: createDockerEngine(ctx.config.docker.socket), env: ctx.env, stop: stop.signal },
      id,
    );
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

export async function nodeEpilogCommand(ctx: CommandContext): Promise<number> {
  assertRoot('node-epilog');
  // The epilog's environment has the ending job's SLURM_JOB_ID (and no GPUs to check).
  const allocation = slurmAllocation({ SLURM_JOB_ID: ctx.env['SLURM_JOB_ID'] });
  if (!allocation.ok) throw new DopqError('not-in-slurm', ExitCode.usage, allocation.problem, 'node-epilog');
  const instance = instanceId(await realpath(ctx.spool.root));
  const removed = await removeLabelledJobContainers(
    ctx.config.docker.socket,
    instance,
    `${LABEL_SLURM_JOB}=${allocation.allocation.jobId}`,
  );
  for (const id of removed)
    ctx.io.out(`dopq node-epilog: removed container ${id.slice(0, 12)} of Slurm job ${allocation.allocation.jobId}\n`);
  return ExitCode.ok;
}
