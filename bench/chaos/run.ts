// One chaos run, start to finish: a private engine, a spool on a small filesystem, two real
// users pushing a steady stream of jobs while the daemon is SIGKILLed, the engine restarted and
// the disk filled; then the verdict from the engine's events and `dopq q`. Always cleans up.
import { chmod, mkdir, mkdtemp, readdir, readFile, realpath, writeFile } from 'node:fs/promises';
import { setMaxListeners } from 'node:events';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { containerNamePrefix } from '../../src/core/job/container-spec.js';
import { instanceId } from '../../src/daemon/context.js';
import { initSpool, spoolPaths } from '../../src/io/spool/spool.js';
import { ensureUser, type UnixUser } from '../../test/helpers/users.js';
import { analyze, type ChaosCounts, type EngineEvent, type PushOutcome } from './analyze.js';
import { snapshotApp } from './app.js';
import { dopq, queue, type Dopq } from './dopq.js';
import { privateEngine, recordEvents, type EventRecorder, type PrivateEngine } from './engine.js';
import { runFaults, type FaultLog } from './faults.js';
import type { ChaosOptions } from './options.js';
import { jobCommand, makePlan, type ChaosPlan, type PlannedJob } from './plan.js';
import { fillerPath, mountSmallFs, removeTree } from './small-fs.js';
import { DaemonSupervisor, type DaemonLife } from './supervisor.js';
import { claimRun, RUN_PREFIX, RUNS_DIR, sweepDeadRuns } from './sweep.js';

export const IMAGE = process.env['DOPQ_BUSYBOX_IMAGE'] ?? 'dopq-busybox:latest';

export interface ChaosResult {
  options: ChaosOptions;
  plan: ChaosPlan;
  counts: ChaosCounts;
  faults: FaultLog;
  lives: DaemonLife[];
  /** Everything the daemon printed, life by life. */
  daemonLog: string;
  /** The private engine's container events, as recorded. */
  events: EngineEvent[];
  /** What the reader should know to trust the figures (keys left out, odd refusals...). */
  notes: string[];
  durationMs: number;
}

export interface RunHooks {
  signal?: AbortSignal;
  progress?: (line: string) => void;
}

export async function runChaos(options: ChaosOptions, hooks: RunHooks = {}): Promise<ChaosResult> {
  if (process.getuid?.() !== 0) throw new Error('the chaos harness mounts a filesystem and runs a Docker engine: run it as root');
  const say = hooks.progress ?? (() => {});
  const abort = new AbortController();
  setMaxListeners(0, abort.signal); // every planned fault waits on it
  const onAbort = () => abort.abort();
  hooks.signal?.addEventListener('abort', onAbort);
  const began = Date.now();
  for (const dead of await sweepDeadRuns()) say(`removed what a dead run left in ${dead}`);
  const dir = await mkdtemp(path.join(RUNS_DIR, RUN_PREFIX));
  await chmod(dir, 0o755);
  const release = await claimRun(dir);
  const engine = privateEngine(path.join(dir, 'engine'));
  let supervisor: DaemonSupervisor | undefined;
  let recorder: EventRecorder | undefined;
  try {
    const users = { alice: ensureUser('dopq-alice'), bob: ensureUser('dopq-bob') };
    say(`starting the private engine in ${engine.dir}`);
    await engine.start();
    const setup = await prepare(dir, engine, await snapshotApp(path.join(dir, 'app')));
    const { app } = setup;
    const plan = makePlan(options);
    recorder = recordEvents(engine.socket, Date.now() - 1000);
    supervisor = new DaemonSupervisor(app);
    supervisor.start();
    await waitFor(
      'the daemon to run',
      async () => {
        const q = await queue(app);
        return typeof q !== 'string' && q.daemonRunning;
      },
      30_000,
      abort.signal,
    );

    say(
      `pushing ${plan.jobs.length} jobs over ${(plan.pushEnd / 1000).toFixed(0)} s with ${options.kills} kills, ${options.engineRestarts} engine restarts, ${options.diskFull} disk-full phases (seed ${options.seed})`,
    );
    for (const f of plan.faults) say(`  at ${(f.at / 1000).toFixed(1)} s: ${f.kind}`);
    const t0 = Date.now();
    const faultLog: FaultLog = { kills: [], outages: [], fullPhases: [], errors: [] };
    const faults = runFaults(plan.faults, t0, { supervisor, engine, filler: fillerPath(setup.fsDir), signal: abort.signal }, faultLog);
    const pushes = await pushAll(plan.jobs, t0, setup, users, abort.signal);
    await faults;
    const ids = pushes.flatMap((p) => (p.id === undefined ? [] : [p.id]));
    say(`pushed ${ids.length}; waiting up to ${(options.settleMs / 1000).toFixed(0)} s for them to end`);
    await waitFor(
      'every pushed job to end',
      async () => {
        const q = await queue(app);
        return (
          typeof q !== 'string' &&
          ids.every((id) => ['done', 'failed', 'cancelled', 'rejected'].includes(q.jobs.find((j) => j.id === id)?.state ?? ''))
        );
      },
      options.settleMs,
      abort.signal,
      2000,
    ).catch((error: Error) => {
      if (abort.signal.aborted) throw error;
    });
    await sleep(1500); // the last events
    const endAt = Date.now();
    await supervisor.stop();
    await recorder.stop();
    const final = await queue(app);
    const notes = [...setup.notes, ...faultLog.errors.map((e) => `fault error: ${e}`), ...pushNotes(pushes, faultLog)];
    if (typeof final === 'string') notes.push(final);
    const counts = analyze({
      pushes,
      jobs: typeof final === 'string' ? null : final.jobs,
      events: recorder.events,
      ...(await readMarkers(setup.markers)),
      outages: faultLog.outages,
      namePrefix: setup.namePrefix,
      endAt,
    });
    return {
      options,
      plan,
      counts,
      faults: faultLog,
      lives: supervisor.lives,
      daemonLog: supervisor.output(),
      events: recorder.events,
      notes,
      durationMs: Date.now() - began,
    };
  } finally {
    abort.abort();
    hooks.signal?.removeEventListener('abort', onAbort);
    await supervisor?.stop(5000).catch(() => undefined);
    await recorder?.stop().catch(() => undefined);
    await engine.stop().catch((error: Error) => say(`cleanup: ${error.message}`));
    await removeTree(dir).catch((error: Error) => say(`cleanup: ${error.message}`));
    release();
  }
}

interface Setup {
  app: Dopq;
  fsDir: string;
  markers: string;
  manifests: string;
  namePrefix: string;
  notes: string[];
}

/** The spool on its small filesystem, the markers folder, and a config the CLI accepts. */
async function prepare(dir: string, engine: PrivateEngine, cli: string): Promise<Setup> {
  const fsDir = path.join(dir, 'fs');
  await mountSmallFs(fsDir);
  const spoolDir = path.join(fsDir, 'spool');
  await initSpool(spoolPaths(spoolDir));
  const markers = path.join(dir, 'markers');
  const manifests = path.join(dir, 'manifests');
  await mkdir(markers);
  await chmod(markers, 0o1777);
  await mkdir(manifests, { mode: 0o755 });
  const configFile = path.join(dir, 'dopq.yaml');
  const config = (docker: Record<string, string>) =>
    stringify({
      spool: spoolDir,
      docker,
      gpus: [0, 1, 2, 3],
      gpu_assignment: 'env',
      reconcile_interval: '2s',
      defaults: { gpus: 1, memory: '64m', cpus: 0.25, shm: '8m', time_limit: '5m' },
      mounts: { allowed_roots: [dir] },
      builds: { min_free: '1m' },
    });
  const notes: string[] = [];
  await writeFile(configFile, config({ socket: engine.socket, pidfile: engine.pidfile }), { mode: 0o644 });
  const app = { cli, config: configFile };
  const probe = await dopq(app, ['q', '--json']);
  if (probe.code !== 0) {
    if (!/pidfile/.test(probe.stderr)) throw new Error(`dopq refuses the chaos config: ${probe.stderr.trim()}`);
    notes.push("this build's config refuses docker.pidfile: the run left it out");
    await writeFile(configFile, config({ socket: engine.socket }), { mode: 0o644 });
  }
  const namePrefix = containerNamePrefix(instanceId(await realpath(spoolDir)));
  return { app, fsDir, markers, manifests, namePrefix, notes };
}

async function pushAll(
  jobs: readonly PlannedJob[],
  t0: number,
  setup: Setup,
  users: Record<'alice' | 'bob', UnixUser>,
  signal: AbortSignal,
): Promise<PushOutcome[]> {
  const files = await Promise.all(
    jobs.map(async (job) => {
      const file = path.join(setup.manifests, `job-${job.seq}.yaml`);
      const manifest = {
        name: `chaos-${job.seq}`,
        image: IMAGE,
        command: jobCommand(job, '/markers'),
        gpus: job.gpus,
        mounts: [`${setup.markers}:/markers`],
      };
      await writeFile(file, stringify(manifest), { mode: 0o644 });
      return file;
    }),
  );
  const pushes: Promise<PushOutcome>[] = [];
  for (const [i, job] of jobs.entries()) {
    await sleep(Math.max(0, t0 + job.at - Date.now()), undefined, { signal });
    pushes.push(
      (async () => {
        const startedAt = Date.now();
        const result = await dopq(setup.app, ['push', '--json', files[i]!], users[job.user]);
        let id: number | undefined;
        try {
          id = result.code === 0 ? (JSON.parse(result.stdout) as { id: number }).id : undefined;
        } catch {
          id = undefined;
        }
        return { job, code: result.code, ...(id !== undefined ? { id } : {}), stderr: result.stderr, startedAt, endedAt: Date.now() };
      })(),
    );
  }
  return Promise.all(pushes);
}

/** A refusal (73) outside every disk-full phase is worth a line: the disk was not full then. */
function pushNotes(pushes: readonly PushOutcome[], faults: FaultLog): string[] {
  const outside = pushes.filter(
    (p) => p.code === 73 && !faults.fullPhases.some((f) => p.endedAt >= f.from && p.startedAt <= (f.to ?? Infinity) + 1000),
  );
  return outside.length > 0
    ? [`${outside.length} pushes refused (73) outside the disk-full phases: #${outside.map((p) => p.job.seq).join(', #')}`]
    : [];
}

/** `<job>.<container>` files hold the GPUs a container saw; `<job>.<container>.end` says it ran to its end. */
async function readMarkers(dir: string): Promise<{ markers: Map<string, string[]>; ended: Set<string> }> {
  const markers = new Map<string, string[]>();
  const ended = new Set<string>();
  for (const name of await readdir(dir)) {
    if (name.endsWith('.end')) {
      ended.add(name.slice(0, -'.end'.length));
      continue;
    }
    const text = (await readFile(path.join(dir, name), 'utf8')).trim();
    markers.set(name, text === '' ? [] : text.split(','));
  }
  return { markers, ended };
}

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number, signal: AbortSignal, everyMs = 1000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting ${timeoutMs / 1000} s for ${what}`);
    await sleep(everyMs, undefined, { signal });
  }
}
