// Carry out the plan's faults on time: daemon SIGKILLs whenever they fall due, engine restarts
// and disk-full phases one after another (a phase that falls due during another waits for it).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Outage } from './analyze.js';
import type { PrivateEngine } from './engine.js';
import type { PlannedFault } from './plan.js';
import { keepFull } from './small-fs.js';
import type { DaemonSupervisor } from './supervisor.js';

export interface FaultLog {
  kills: number[];
  outages: Outage[];
  fullPhases: { from: number; to: number | null }[];
  errors: string[];
}

export interface FaultTargets {
  supervisor: DaemonSupervisor;
  engine: PrivateEngine;
  filler: string;
  signal: AbortSignal;
}

/** Runs every fault at `t0 + at`; resolves when the last one is over (errors are logged, not thrown). */
export async function runFaults(faults: readonly PlannedFault[], t0: number, targets: FaultTargets, log: FaultLog): Promise<void> {
  const { signal } = targets;
  const until = (at: number) => sleep(Math.max(0, t0 + at - Date.now()), undefined, { signal });
  const kills = faults.flatMap((fault) =>
    fault.kind !== 'kill'
      ? []
      : [
          (async () => {
            await until(fault.at);
            const at = Date.now();
            if (await targets.supervisor.kill(fault.restartAfterMs)) log.kills.push(at);
          })(),
        ],
  );
  const phases = (async () => {
    for (const fault of faults) {
      if (fault.kind === 'kill') continue;
      await until(fault.at);
      if (fault.kind === 'engine-restart') await restartEngine(targets, fault.downMs, log);
      else await fillDisk(targets, fault.fullMs, log);
    }
  })();
  const results = await Promise.allSettled([...kills, phases]);
  for (const result of results) {
    if (result.status === 'rejected' && !signal.aborted) log.errors.push(String((result.reason as Error).message ?? result.reason));
  }
}

async function restartEngine(targets: FaultTargets, downMs: number, log: FaultLog): Promise<void> {
  const stopAt = Date.now();
  await targets.engine.stop();
  const outage: Outage = { stopAt, goneAt: Date.now(), backAt: null };
  log.outages.push(outage);
  await sleep(downMs, undefined, { signal: targets.signal });
  await targets.engine.start();
  outage.backAt = Date.now();
}

async function fillDisk(targets: FaultTargets, fullMs: number, log: FaultLog): Promise<void> {
  const phase: { from: number; to: number | null } = { from: Date.now(), to: null };
  log.fullPhases.push(phase);
  await keepFull(targets.filler, fullMs, () => targets.signal.aborted);
  phase.to = Date.now();
}
