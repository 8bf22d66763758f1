// The seeded script of a chaos run (pure): which jobs are pushed when, and when each fault
// strikes. The same seed gives the same script; the machine's timing still varies between runs.
import { prng } from '../trace-scenarios.js';
import type { ChaosOptions } from './options.js';

export type ChaosUser = 'alice' | 'bob';

export interface PlannedJob {
  /** 1-based order of the push (not the job id, which dopq gives). */
  seq: number;
  user: ChaosUser;
  gpus: 1 | 2;
  /** How long its `sleep` runs (ms). */
  runMs: number;
  /** Meant to exit 3: its own failure. */
  exits3: boolean;
  /** When to push it, from the start of the run (ms). */
  at: number;
}

export type PlannedFault =
  | { kind: 'kill'; at: number; restartAfterMs: number }
  | { kind: 'engine-restart'; at: number; downMs: number }
  | { kind: 'disk-full'; at: number; fullMs: number };

export interface ChaosPlan {
  jobs: PlannedJob[];
  /** Sorted by time. Engine restarts and disk-full phases never overlap each other (run.ts runs them in turn). */
  faults: PlannedFault[];
  /** When the last push is due (ms). */
  pushEnd: number;
}

/** Faults start after the daemon is up and stop a little after the last push. */
const FIRST_FAULT_MS = 2000;
const AFTER_LAST_PUSH_MS = 3000;

export function makePlan(options: ChaosOptions): ChaosPlan {
  const rand = prng(options.seed);
  const between = (lo: number, hi: number) => lo + rand() * (hi - lo);
  const jobs: PlannedJob[] = Array.from({ length: options.jobs }, (_, i) => ({
    seq: i + 1,
    user: rand() < 0.5 ? 'alice' : 'bob',
    gpus: rand() < 0.65 ? 1 : 2,
    runMs: Math.round(between(200, 3000) / 100) * 100,
    exits3: rand() < 0.1,
    at: i * options.pushIntervalMs,
  }));
  const pushEnd = jobs[jobs.length - 1]!.at;
  const windowEnd = Math.max(pushEnd + AFTER_LAST_PUSH_MS, FIRST_FAULT_MS + 1000);
  const faults: PlannedFault[] = [];
  for (let i = 0; i < options.kills; i++) {
    faults.push({ kind: 'kill', at: Math.round(between(FIRST_FAULT_MS, windowEnd)), restartAfterMs: Math.round(between(200, 1000)) });
  }
  // Phases: one slot each, in a shuffled order, starting in the first half of their slot.
  const phases: ('engine-restart' | 'disk-full')[] = [
    ...Array<'engine-restart'>(options.engineRestarts).fill('engine-restart'),
    ...Array<'disk-full'>(options.diskFull).fill('disk-full'),
  ];
  for (let i = phases.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [phases[i], phases[j]] = [phases[j]!, phases[i]!];
  }
  const slot = (windowEnd - FIRST_FAULT_MS) / Math.max(1, phases.length);
  phases.forEach((kind, i) => {
    const at = Math.round(FIRST_FAULT_MS + slot * i + rand() * slot * 0.5);
    faults.push(
      kind === 'engine-restart'
        ? { kind, at, downMs: Math.round(between(2000, 4000)) }
        : { kind, at, fullMs: Math.round(between(3000, 5000)) },
    );
  });
  faults.sort((a, b) => a.at - b.at);
  return { jobs, faults, pushEnd };
}

/**
 * The job's shell command: a marker with its GPUs (on stdout, and in the markers folder per
 * container), its run, then an end marker. It leaves on SIGTERM as most programs do (a bare
 * `sh` as PID 1 would ignore it), so an engine that stops kills it rather than waiting it out.
 */
export function jobCommand(job: PlannedJob, markers: string): string {
  const marker = `${markers}/$DOPQ_JOB_ID.$(hostname)`;
  return [
    'trap "exit 143" TERM',
    'echo "dopq-chaos job=$DOPQ_JOB_ID gpus=$DOPQ_GPUS container=$(hostname)"',
    `echo "$DOPQ_GPUS" > ${marker}`,
    `sleep ${(job.runMs / 1000).toFixed(1)} & wait $!`,
    `touch ${marker}.end`,
    `exit ${job.exits3 ? 3 : 0}`,
  ].join('; ');
}
