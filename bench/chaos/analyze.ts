// What a chaos run did, judged (pure): the engine's container events, the jobs' final records
// (`dopq q --json --all`), the markers the containers wrote, and the harness's own log of pushes
// and engine outages -> the counts the table shows and the test asserts.
import type { PlannedJob } from './plan.js';

export interface PushOutcome {
  job: PlannedJob;
  /** The CLI's exit code; 0 with an id is pushed, 73 is "refused, not queued". */
  code: number | null;
  id?: number;
  stderr: string;
  startedAt: number;
  endedAt: number;
}

/** One container event of the private engine, as `docker events --format '{{json .}}'` gives it. */
export interface EngineEvent {
  container: string;
  action: string;
  name: string;
  timeMs: number;
  exitCode?: number;
}

export interface Outage {
  /** SIGTERM sent to the engine. */
  stopAt: number;
  /** The engine process had gone (every container of it dead by then). */
  goneAt: number;
  /** It answered again; null if it never came back. */
  backAt: number | null;
}

/**
 * The fields of a `dopq q --json --all` job this judges. The attempt count is being added to the
 * daemon (`attempt`, or `attempts` as first planned); absent means 1.
 */
export interface FinalJob {
  id: number;
  state: string;
  reason: string | null;
  exit_code: number | null;
  gpus: string[];
  attempt?: number;
  attempts?: number;
}

export const attemptsOf = (job: FinalJob | undefined): number => job?.attempts ?? job?.attempt ?? 1;

export interface ChaosFacts {
  pushes: PushOutcome[];
  /** null when `dopq q` itself failed at the end. */
  jobs: FinalJob[] | null;
  events: EngineEvent[];
  /** `<job id>.<12-hex container id>` -> the GPUs that container saw in $DOPQ_GPUS. */
  markers: ReadonlyMap<string, string[]>;
  /** `<job id>.<12-hex container id>` of the containers that ran their job to its end. */
  ended: ReadonlySet<string>;
  outages: Outage[];
  /** The prefix of this spool's container names, `dopq-<instance>-`. */
  namePrefix: string;
  endAt: number;
}

export interface Interval {
  job: number;
  container: string;
  start: number;
  end: number;
  gpus: string[] | null;
  /** No die event: `end` is when the engine went down, or the end of the run. */
  open: boolean;
  /** From the die event. */
  exitCode?: number;
}

export interface ChaosCounts {
  pushed: number;
  refused: number;
  pushErrors: { seq: number; code: number | null; stderr: string }[];
  states: Record<'done' | 'failed' | 'cancelled' | 'rejected' | 'unfinished', number>;
  lost: { id: number; why: string }[];
  runTwice: { id: number; starts: number; attempts: number }[];
  overlaps: { gpu: string; first: Interval; second: Interval }[];
  foreignFaults: { id: number; state: string; reason: string | null; exit_code: number | null }[];
  requeued: { id: number; attempts: number }[];
  /** Recorded as exited with the job's own code, though none of its containers ran to the end. */
  cutShort: { id: number; state: string; exit_code: number | null }[];
  /** Containers known only from their marker: the event stream missed their start. */
  missedStarts: number;
  /** Jobs in the state that no successful push returned (a refused push that queued anyway). */
  unasked: number[];
  /** Per engine restart: engine back -> the next container start (ms); null if none followed. */
  recoveryMs: (number | null)[];
  containers: number;
  /** Containers that died by a signal (not exit 0 or 3) while the engine was being stopped. */
  killedByEngine: number;
  /** Containers whose GPUs neither a marker nor the job's record tells (left out of the overlap check). */
  unknownGpus: number;
  /** Container runs without a die event (bounded by the engine's outage or the end of the run). */
  openIntervals: number;
}

const FINAL = new Set(['done', 'failed', 'cancelled', 'rejected']);

export function analyze(facts: ChaosFacts): ChaosCounts {
  const pushed = facts.pushes.filter((p) => p.code === 0 && p.id !== undefined);
  const planned = new Map(pushed.map((p) => [p.id!, p.job]));
  const records = new Map((facts.jobs ?? []).map((job) => [job.id, job]));
  const intervals = containerIntervals(facts, records);
  const seen = new Set(intervals.map((i) => `${i.job}.${i.container.slice(0, 12)}`));
  const markerOnly = [...facts.markers.keys()].filter((key) => !seen.has(key));
  const startsOf = countBy([...intervals.map((i) => i.job), ...markerOnly.map((key) => Number(key.split('.')[0]))]);
  const ranToEnd = new Set([...facts.ended].map((key) => Number(key.split('.')[0])));

  const states = { done: 0, failed: 0, cancelled: 0, rejected: 0, unfinished: 0 };
  const lost: ChaosCounts['lost'] = [];
  const foreignFaults: ChaosCounts['foreignFaults'] = [];
  const cutShort: ChaosCounts['cutShort'] = [];
  for (const [id, job] of planned) {
    const record = records.get(id);
    if (!record || !FINAL.has(record.state)) {
      states.unfinished += 1;
      lost.push({ id, why: record ? `still ${record.state}` : facts.jobs ? 'not in the state' : 'dopq q failed' });
      continue;
    }
    states[record.state as keyof typeof states] += 1;
    if (record.reason === 'lost') lost.push({ id, why: 'reason lost' });
    const own = record.state === 'failed' && record.reason === 'exited' && record.exit_code === 3 && job.exits3;
    if (record.state !== 'done' && !own)
      foreignFaults.push({ id, state: record.state, reason: record.reason, exit_code: record.exit_code });
    const endedOnItsOwn = record.reason === 'exited' && (record.exit_code === 0 || record.exit_code === 3);
    if (endedOnItsOwn && !ranToEnd.has(id)) cutShort.push({ id, state: record.state, exit_code: record.exit_code });
  }
  const runTwice = [...startsOf]
    .filter(([id, starts]) => starts > attemptsOf(records.get(id)))
    .map(([id, starts]) => ({ id, starts, attempts: attemptsOf(records.get(id)) }));
  const requeued = [...records.values()]
    .filter((job) => planned.has(job.id) && attemptsOf(job) > 1)
    .map((job) => ({ id: job.id, attempts: attemptsOf(job) }));
  const unasked = [...records.keys()].filter((id) => !planned.has(id));

  return {
    pushed: pushed.length,
    refused: facts.pushes.filter((p) => p.code === 73).length,
    pushErrors: facts.pushes
      .filter((p) => p.code !== 0 && p.code !== 73)
      .map((p) => ({ seq: p.job.seq, code: p.code, stderr: p.stderr.trim() })),
    states,
    lost,
    runTwice,
    overlaps: gpuOverlaps(intervals),
    foreignFaults,
    requeued,
    cutShort,
    missedStarts: markerOnly.length,
    unasked,
    recoveryMs: facts.outages.map((outage) => recovery(outage, intervals)),
    containers: new Set(intervals.map((i) => i.container)).size,
    killedByEngine: intervals.filter(
      (i) =>
        i.exitCode !== 0 && i.exitCode !== 3 && facts.outages.some((o) => i.start < o.stopAt && i.end >= o.stopAt && i.end <= o.goneAt),
    ).length,
    unknownGpus: intervals.filter((i) => i.gpus === null).length,
    openIntervals: intervals.filter((i) => i.open).length,
  };
}

/** Each start of one of the spool's containers, until its die (or the engine's end). */
export function containerIntervals(facts: ChaosFacts, records: ReadonlyMap<number, FinalJob>): Interval[] {
  const name = new RegExp(`^/?${escape(facts.namePrefix)}(\\d+)$`);
  const ours = facts.events.filter((e) => name.test(e.name)).sort((a, b) => a.timeMs - b.timeMs);
  const containersOf = new Map<number, Set<string>>();
  for (const e of ours) {
    const job = Number(name.exec(e.name)![1]);
    containersOf.set(job, (containersOf.get(job) ?? new Set()).add(e.container));
  }
  const intervals: Interval[] = [];
  for (const [i, e] of ours.entries()) {
    if (e.action !== 'start') continue;
    const job = Number(name.exec(e.name)![1]);
    const die = ours.slice(i + 1).find((d) => d.container === e.container && (d.action === 'die' || d.action === 'start'));
    const gone = facts.outages.find((o) => o.goneAt >= e.timeMs);
    const end = die?.action === 'die' ? die.timeMs : (gone?.goneAt ?? facts.endAt);
    const marker = facts.markers.get(`${job}.${e.container.slice(0, 12)}`);
    const record = records.get(job);
    const onlyContainer = containersOf.get(job)!.size === 1 && record && record.gpus.length > 0;
    const exitCode = die?.action === 'die' ? die.exitCode : undefined;
    intervals.push({
      job,
      container: e.container,
      start: e.timeMs,
      end,
      gpus: marker ?? (onlyContainer ? record.gpus : null),
      open: die?.action !== 'die',
      ...(exitCode !== undefined ? { exitCode } : {}),
    });
  }
  return intervals;
}

/** Pairs of container runs of different containers that held one GPU at the same time. */
export function gpuOverlaps(intervals: readonly Interval[]): ChaosCounts['overlaps'] {
  const overlaps: ChaosCounts['overlaps'] = [];
  const byGpu = new Map<string, Interval[]>();
  for (const interval of intervals) for (const gpu of interval.gpus ?? []) byGpu.set(gpu, [...(byGpu.get(gpu) ?? []), interval]);
  for (const [gpu, list] of byGpu) {
    list.sort((a, b) => a.start - b.start);
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length && list[j]!.start < list[i]!.end; j++) {
        if (list[j]!.container !== list[i]!.container) overlaps.push({ gpu, first: list[i]!, second: list[j]! });
      }
    }
  }
  return overlaps;
}

function recovery(outage: Outage, intervals: readonly Interval[]): number | null {
  if (outage.backAt === null) return null;
  const next = intervals.filter((i) => i.start >= outage.backAt!).reduce((min, i) => Math.min(min, i.start), Infinity);
  return next === Infinity ? null : next - outage.backAt;
}

function countBy(values: readonly number[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return counts;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
