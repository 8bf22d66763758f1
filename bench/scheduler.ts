// `npm run bench` (first part, no Docker): the scheduler's cost per pass and the simulator's
// throughput, each beside a baseline from the same run, then the shipped traces under the three
// policies side by side. Prints figures; asserts nothing.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../src/core/config/config.js';
import { POLICIES, type PolicyName } from '../src/core/schedule/policy.js';
import { groupQueues, type QueuedJob } from '../src/core/schedule/queue-order.js';
import { decide, type RunningJob, type SchedulerInput } from '../src/core/schedule/scheduler.js';
import { renderSummaries } from '../src/core/sim/render.js';
import { parseTrace, type Trace } from '../src/core/sim/trace.js';
import { simulate, type SimSettings } from '../src/core/sim/simulate.js';
import type { SimSummary } from '../src/core/sim/metrics.js';
import { prng, SCENARIOS, scenarioYaml } from './trace-scenarios.js';
import { planQueue } from '../src/core/schedule/start-estimates.js';
import { staticInventory } from '../src/core/schedule/gpus.js';
import type { JobRecord } from '../src/core/job/job.js';
import type { StateFile } from '../src/core/state.js';
import { schedulerInput } from '../src/core/schedule/schedule-input.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const config = parseConfig(await readFile(path.join(root, 'etc/dopq.yaml'), 'utf8'), path.join(root, 'etc/dopq.yaml'));

const pickGpus = (r: number) => (r < 0.7 ? 1 : r < 0.85 ? 2 : r < 0.95 ? 4 : 8);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
function time(runs: number, fn: () => void): number {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    samples.push(performance.now() - start);
  }
  return median(samples);
}

function bigPass(freeCount: number, policy: PolicyName): SchedulerInput {
  const rand = prng(7);
  const now = 1_800_000_000_000;
  const gpus = Array.from({ length: 64 }, (_, i) => `GPU-${i}`);
  const running: RunningJob[] = [];
  for (let next = freeCount; next < 64;) {
    const n = Math.min(pickGpus(rand()), 64 - next);
    running.push({
      id: 100_000 + next,
      user: `u${Math.floor(rand() * 500)}`,
      gpus: gpus.slice(next, next + n),
      ends_at: now + rand() * 86_400_000,
    });
    next += n;
  }
  const queued: QueuedJob[] = Array.from({ length: 10_000 }, (_, i) => ({
    id: i + 1,
    user: `u${Math.floor(rand() * 500)}`,
    gpus: pickGpus(rand()),
    submitted_at: now - 86_400_000 + i * 1000,
    time_limit: 600 + Math.floor(rand() * 86_400),
  }));
  return {
    policy,
    now,
    free: gpus.slice(0, freeCount),
    running,
    queues: groupQueues(queued),
    usage: new Map(Array.from({ length: 500 }, (_, u) => [`u${u}`, rand() * 1e6])),
    shares: new Map(),
    running_weight: 3600,
    history: Array.from({ length: 100 }, () => `u${Math.floor(rand() * 500)}`),
    classic_history: 100,
    max_gpus_per_user: null,
    paused: false,
  };
}

console.log('one scheduling pass, 10,000 queued jobs from 500 users, 64 GPUs (median of 30):');
for (const free of [4, 64]) {
  for (const policy of POLICIES) {
    const input = bigPass(free, policy);
    const queued = [...input.queues.values()].flat();
    const decideMs = time(30, () => decide(input));
    const planMs = time(10, () => planQueue(input));
    const sortMs = time(30, () => [...queued].sort((a, b) => a.submitted_at - b.submitted_at || a.id - b.id));
    console.log(
      `  ${free} GPUs free, ${policy.padEnd(12)} decide ${decideMs.toFixed(2)} ms, with every estimated start (q) ${planMs.toFixed(2)} ms; baseline: one sort of the 10,000 jobs ${sortMs.toFixed(2)} ms`,
    );
  }
}

// What the daemon does each pass: build the input from the state file (usage from every job in
// it, the queue grouped and sorted per user), then decide.
{
  const input = bigPass(4, 'fairshare');
  const jobs: JobRecord[] = [];
  for (const run of input.running) {
    jobs.push({
      id: run.id,
      user: run.user,
      uid: 1000,
      name: 'r',
      image: 'i',
      gpus_requested: run.gpus.length,
      gpus: [...run.gpus],
      state: 'running',
      submitted_at: input.now - 7_200_000,
      started_at: input.now - 3_600_000,
      time_limit: 86_400,
    });
  }
  for (const q of [...input.queues.values()].flat()) {
    jobs.push({
      id: q.id,
      user: q.user,
      uid: 1000,
      name: 'q',
      image: 'i',
      gpus_requested: q.gpus,
      gpus: [],
      state: 'queued',
      submitted_at: q.submitted_at,
      time_limit: q.time_limit,
    });
  }
  for (let i = 0; i < 5000; i++) {
    jobs.push({
      id: 200_000 + i,
      user: `u${i % 500}`,
      uid: 1000,
      name: 'f',
      image: 'i',
      gpus_requested: 1,
      gpus: ['GPU-1'],
      state: 'done',
      submitted_at: input.now - 9e6,
      started_at: input.now - 8e6,
      finished_at: input.now - 7e6 + i,
      time_limit: 86_400,
    });
  }
  const state: StateFile = { version: 1, jobs, gpus: staticInventory(Array.from({ length: 64 }, (_, i) => `GPU-${i}`)), daemon: null };
  const shares = new Map<string, number>();
  const full = time(30, () => decide(schedulerInput(state, config, { now: input.now, shares })));
  console.log(`  the daemon's whole pass from a state of 15,000 jobs (10,000 queued, 5,000 finished): ${full.toFixed(2)} ms`);
}

function bigTrace(): Trace {
  const rand = prng(11);
  const jobs: Trace['jobs'] = [];
  let at = 0;
  // ~90% load on 64 GPUs: mean demand per job ≈ 1.9 GPUs x 1.6 h; arrivals every ~190 s.
  for (let id = 1; id <= 100_000; id++) {
    at += Math.round(-Math.log(1 - rand()) * 190);
    const duration = 600 + Math.round(rand() * 3 * 3600);
    jobs.push({
      id,
      user: `u${Math.floor(rand() * 50)}`,
      gpus: pickGpus(rand()),
      at,
      duration,
      time_limit: Math.round(duration * (1.2 + 0.8 * rand())),
    });
  }
  return { gpus: 64, shares: new Map(), half_life: 7 * 86400, jobs };
}

console.log('\ndopq sim on a 100,000-job trace (64 GPUs, 50 users, ~90% load):');
const trace = bigTrace();
const baselineStart = performance.now();
const sorted = [...trace.jobs].sort((a, b) => a.at - b.at || a.id - b.id);
const baselineMs = performance.now() - baselineStart;
for (const policy of POLICIES) {
  const start = performance.now();
  const result = simulate(trace, { policy, running_weight: 3600, classic_history: 100, max_gpus_per_user: null });
  const ms = performance.now() - start;
  console.log(
    `  ${policy.padEnd(12)} ${(ms / 1000).toFixed(2)} s, ${result.passes} scheduler passes (${((result.passes / ms) * 1000).toFixed(0)}/s), mean wait ${(result.summary.wait.mean / 60).toFixed(0)} min`,
  );
}
console.log(`  baseline: sorting the ${sorted.length} arrivals once: ${baselineMs.toFixed(1)} ms`);

const settings: Omit<SimSettings, 'policy'> = {
  running_weight: config.penalty.running_weight,
  classic_history: config.penalty.classic_history,
  max_gpus_per_user: config.limits.per_user.gpus,
};
const compare = (trace: Trace) => POLICIES.map((policy) => simulate(trace, { policy, ...settings }).summary);

for (const scenario of SCENARIOS) {
  const file = path.join(root, 'test/traces', `${scenario.name}.yaml`);
  const shipped = parseTrace(await readFile(file, 'utf8'), file, config);
  console.log(`\ntest/traces/${scenario.name}.yaml (${shipped.jobs.length} jobs, ${shipped.gpus} GPUs):`);
  console.log(renderSummaries(compare(shipped)));
}

// The done-when's three comparisons, on 50 other draws of each scenario: how often does
// fairshare come out ahead of (or level with) both other policies?
const SEEDS = 50;
const ahead = (f: number | null, others: (number | null)[], better: 'higher' | 'lower') =>
  f !== null && others.every((o) => o === null || (better === 'higher' ? f >= o - 1e-9 : f <= o + 1e-9));
console.log(`\nfairshare ahead of or level with both fifo and dopq-classic, over ${SEEDS} seeds per scenario:`);
for (const scenario of SCENARIOS) {
  const counts = { jain: 0, multi: 0, util: 0, all: 0 };
  for (let seed = 1000; seed < 1000 + SEEDS; seed++) {
    const [f, ...others] = compare(parseTrace(scenarioYaml(scenario, seed), `${scenario.name}@${seed}`, config)) as [
      SimSummary,
      SimSummary,
      SimSummary,
    ];
    const jain = ahead(
      f.jain_fairness,
      others.map((o) => o.jain_fairness),
      'higher',
    );
    const multi = ahead(
      f.multi_gpu_max_wait,
      others.map((o) => o.multi_gpu_max_wait),
      'lower',
    );
    const util = ahead(
      f.utilization_while_waiting,
      others.map((o) => o.utilization_while_waiting),
      'higher',
    );
    counts.jain += Number(jain);
    counts.multi += Number(multi);
    counts.util += Number(util);
    counts.all += Number(jain && multi && util);
  }
  console.log(
    `  ${scenario.name.padEnd(14)} fairness ${counts.jain}/${SEEDS}, multi-GPU max wait ${counts.multi}/${SEEDS}, utilization while waiting ${counts.util}/${SEEDS}, all three ${counts.all}/${SEEDS}`,
  );
}
