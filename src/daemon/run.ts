// `dopq run`: check everything that can be wrong before taking the spool (config, engine, GPUs),
// then hold the single-instance lock and loop until a signal. SIGHUP reads the config again.
import { notifyJobEvent } from './notify/notifier.js';
import { realpath } from 'node:fs/promises';
import type { Config } from '../core/config/config.js';
import { createDockerEngine } from '../io/docker/docker.js';
import type { DockerEngine } from '../io/docker/engine.js';
import { acquireDaemonLock } from '../io/spool/daemon-lock.js';
import { readIdFloor } from '../io/spool/seq.js';
import { createMissing, spoolPaths, spoolProblems } from '../io/spool/spool.js';
import { SpoolError, UnsafeSpoolError } from '../core/errors.js';
import { readState } from '../io/spool/state-store.js';
import { readImageRecord } from '../io/spool/image-record.js';
import { instanceId, stderrLogger, type DaemonContext, type Logger } from './context.js';
import { DaemonLoop } from './loop.js';
import { METRICS_CHILD, startServingChild, WEB_CHILD } from './serving-child.js';
import { newEngineHealth } from '../core/engine-faults.js';
import { noteEngineError } from './engine-health.js';
import { createGpuSource } from './gpu-source.js';
import { fitConfigToHost } from './host-fit.js';
import { backendSwitchError, jobsOfOtherBackend } from '../core/job/backend-switch.js';

export interface RunOptions {
  once: boolean;
  log?: Logger;
  /** The engine to drive; without it, Docker at config.docker.socket. */
  engine?: DockerEngine;
  /** The clock (ms since the epoch); without it, the system's. */
  now?: () => number;
  /** Stop as on SIGTERM once aborted; without it, SIGTERM and SIGINT stop the daemon. */
  stop?: AbortSignal;
  /** Read the config again on each `SIGHUP` event; without it (and without `stop`), on the process's SIGHUP. */
  hangups?: EventTarget;
}

export async function runDaemon(config: Config, options: RunOptions): Promise<number> {
  const log = options.log ?? stderrLogger();
  const spool = spoolPaths(config.spool);
  // A new spool is created with its modes; an existing one is only checked, never changed
  // behind the admin's back (`dopq init` does that, saying what it changed).
  await createMissing(spool);
  const problems = await spoolProblems(spool, config.file);
  if (problems.length > 0) throw new UnsafeSpoolError(spool.root, problems);
  const engine = options.engine ?? createDockerEngine(config.docker.socket);
  // An engine that is away (restarting, not up yet after a reboot) is waited for like one that
  // goes away later: the daemon takes in pushes and starts jobs once it answers.
  const engineError = await engine.ping().then(
    () => undefined,
    (error: unknown) => error,
  );
  // Built-in defaults above the host lowered, the host made a limit; the rest logged.
  // With Slurm, jobs run on its nodes: their sizes are Slurm's to check, not this host's.
  if (config.backend !== 'slurm') config = await fitConfigToHost(config, log, engineError === undefined && options.engine === undefined);
  const gpus = await createGpuSource(config);

  const fatal = (error: Error) => {
    log.error(`lost a lock (${error.message}); exiting so that a supervisor restarts a clean daemon`);
    process.exit(70);
  };
  const lock = await acquireDaemonLock(spool.daemonLock, spool.daemonPid, fatal).catch((error: NodeJS.ErrnoException) => {
    // A clear exit for a supervisor's log, not an internal error: nothing was changed.
    if (error.code === 'ENOSPC' || error.code === 'EDQUOT')
      throw new SpoolError(spool.stateDir, "cannot take the daemon lock: no space left on the spool's disk", {
        hint: 'free space; running jobs keep running meanwhile',
      });
    throw error;
  });
  try {
    const state = await readState(spool.state);
    // Jobs the other backend runs: this one could neither follow nor stop them.
    const foreign = jobsOfOtherBackend(state.jobs, config.backend);
    if (foreign.length > 0) throw backendSwitchError(foreign, config.backend, config.file);
    // The floor never goes back below a number in the state; a higher one (records pruned since) stays.
    const idFloor = Math.max(
      (await readIdFloor(spool.seq)) ?? 0,
      state.jobs.reduce((max, job) => Math.max(max, job.id), 0),
    );
    const images = await readImageRecord(spool.images);
    const health = newEngineHealth();
    const ctx: DaemonContext = {
      config,
      spool,
      engine,
      instance: instanceId(await realpath(spool.root)),
      now: options.now ?? Date.now,
      log,
      state,
      specs: new Map(),
      images,
      health,
      removals: new Set(),
      removing: new Set(),
      suspects: new Map(),
      unsaved: new Set(),
      idFloor,
      reload: null,
      onJobEvent: (event) => notifyJobEvent(ctx, event),
    };
    let requestStop: (reason: string) => void = () => {};
    const stopRequested = new Promise<void>((resolve) => {
      requestStop = (by) => {
        log.info(`dopq shutdown by ${by}: finishing the current pass, then exiting`);
        resolve();
      };
    });
    if (engineError !== undefined && noteEngineError(ctx, engineError) !== 'unreachable') throw engineError;
    const daemon = new DaemonLoop(ctx, gpus, fatal, (by) => requestStop(by));
    if (options.once) {
      await daemon.once();
      await daemon.close();
      return 0;
    }
    // Handlers first: a signal during the first pass must stop us cleanly too.
    const signalled = options.stop ? whenAborted(options.stop) : waitForSignal(log);
    const hangups = options.hangups ?? (options.stop ? undefined : processHangups());
    const onHangup = () => daemon.reload('SIGHUP');
    hangups?.addEventListener('SIGHUP', onHangup);
    log.info(`dopq run: spool ${spool.root}, config ${config.file}, ${gpus.current().length} GPUs, pid ${process.pid}`);
    await daemon.start();
    const servers = [await startServingChild(ctx, METRICS_CHILD), await startServingChild(ctx, WEB_CHILD)];
    await Promise.race([signalled, stopRequested]);
    await Promise.all(servers.map((server) => server?.stop()));
    hangups?.removeEventListener('SIGHUP', onHangup);
    // Under systemd's default TimeoutStopSec (90 s), and long enough for an fsync on a disk
    // busy with other writes; the message names the step that hung.
    const watchdog = setTimeout(() => {
      log.error(`shutdown took too long (${daemon.closingStep || 'closing'}); exiting now`);
      process.exit(70);
    }, 60_000);
    watchdog.unref();
    await daemon.close();
    clearTimeout(watchdog);
    log.info('stopped; running containers keep running and are adopted by the next dopq run');
    return 0;
  } finally {
    await lock.release();
  }
}

function waitForSignal(log: Logger): Promise<void> {
  return new Promise((resolve) => {
    let received = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      received += 1;
      if (received === 1) {
        log.info(`${signal}: finishing the current pass, then exiting (again to force)`);
        resolve();
      } else {
        log.error(`${signal} again: exiting now`);
        process.exit(130);
      }
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/** The process's SIGHUP as events (`systemctl reload` sends it); a handler also keeps it from killing us. */
function processHangups(): EventTarget {
  const target = new EventTarget();
  process.on('SIGHUP', () => target.dispatchEvent(new Event('SIGHUP')));
  return target;
}

function whenAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
