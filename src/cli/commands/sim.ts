// `dopq sim TRACE`: the daemon's scheduler on a trace, with a virtual clock and no Docker.
import { ExitCode } from '../../core/errors.js';
import { POLICIES, type PolicyName } from '../../core/schedule/policy.js';
import { renderJobs, renderSummaries, renderUsers } from '../../core/sim/render.js';
import { parseTrace } from '../../core/sim/trace.js';
import { simulate, type SimSettings } from '../../core/sim/simulate.js';
import { readUserFile } from '../../io/files/user-file.js';
import type { CommandContext } from '../context.js';

export interface SimOptions {
  policy?: PolicyName;
  compare?: boolean;
  json?: boolean;
  jobs?: boolean;
}

// Traces repeat a job with `count`, so even a million-job trace is small; this only keeps a
// file named by mistake from filling memory.
const TRACE_MAX_BYTES = 64 * 1024 * 1024;

/** `options.policy` is one of POLICIES and never comes with `compare` (commander checks both). */
export async function simCommand(ctx: CommandContext, file: string, options: SimOptions): Promise<number> {
  const text = await readUserFile(file, { what: 'the trace', maxBytes: TRACE_MAX_BYTES });
  const trace = parseTrace(text, file, ctx.config);
  const settings = (policy: PolicyName): SimSettings => ({
    policy,
    running_weight: ctx.config.penalty.running_weight,
    classic_history: ctx.config.penalty.classic_history,
    max_gpus_per_user: ctx.config.limits.per_user.gpus,
  });
  const policies: PolicyName[] = options.compare ? [...POLICIES] : [options.policy ?? ctx.config.policy];
  const results = policies.map((policy) => simulate(trace, settings(policy)));
  if (options.json) {
    const strip = (r: (typeof results)[number]) => ({ jobs: r.jobs.map(({ timed_out: _t, ...job }) => job), summary: r.summary });
    ctx.io.out(
      `${JSON.stringify(options.compare ? Object.fromEntries(policies.map((p, i) => [p, strip(results[i]!)])) : strip(results[0]!))}\n`,
    );
    return ExitCode.ok;
  }
  const out: string[] = [
    `${trace.jobs.length} jobs on ${trace.gpus} GPUs, ${new Set(trace.jobs.map((j) => j.user)).size} users`,
    renderSummaries(results.map((r) => r.summary)),
  ];
  for (const result of results) {
    if (options.jobs) out.push(`Jobs (${result.summary.policy})`, renderJobs(result.jobs));
    out.push(`Users (${result.summary.policy})`, renderUsers(result.summary));
  }
  ctx.io.out(`${out.join('\n\n')}\n`);
  return ExitCode.ok;
}
