// When the daemon's passes run (what one does is pass.ts). Passes never overlap; anything that
// happens during one (a push, a container exit) asks for another, so a freed GPU is reused as
// soon as Docker reports the exit. Events are hints; timers make sure nothing waits forever.
// A config reload (SIGHUP, `dopq reload`) happens here too, between two passes.
import { hostname } from 'node:os';
import { watch, type FSWatcher } from 'chokidar';
import { Builder } from './images/builder.js';
import { dockerMessage } from '../io/docker/docker.js';
import type { DaemonContext } from './context.js';
import { swappableGpuSource, type GpuSource } from './gpu-source.js';
import { createLogSavers, type LogSavers } from './jobs/lifecycle.js';
import { noteEngineError } from './engine-health.js';
import { Pass, type PassRunner } from './pass.js';
import { describeReload, prepareReload, reloadStatus } from './reload.js';
import { StateSaver } from './state-saver.js';
import { Telemetry } from './telemetry.js';
import { UsageRecorder } from './usage-recorder.js';
import { jobEvent } from '../core/job/job-events.js';
import { clearStaleSessions, closeAllSessions } from './jobs/sessions.js';

const MAX_TIMER_MS = 2 ** 31 - 1;

export class DaemonLoop implements PassRunner {
  private readonly logs: LogSavers = createLogSavers();
  private readonly saver: StateSaver;
  private readonly builder: Builder;
  private readonly pass: Pass;
  /** Usage samples of running jobs; `telemetry.onIdle` is where an idle job is announced. */
  readonly telemetry: Telemetry;
  /** The web dashboard's 24 h series, a point a minute. */
  private readonly usageHistory: UsageRecorder;
  private dirty = false;
  private running: Promise<void> | undefined;
  private closed = false;
  private started = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private deadlineTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private stopEvents: (() => void) | undefined;
  private afterPass: (() => void) | undefined;
  private readonly gpus: ReturnType<typeof swappableGpuSource>;
  /** Reloads asked for and not done yet: done together before the next pass. */
  private readonly reloads: { by: string; token: string | null }[] = [];

  /** `onShutdown`: an admin ran `dopq shutdown`; the caller stops us as on SIGTERM. */
  constructor(
    private readonly ctx: DaemonContext,
    gpus: GpuSource,
    onStateLockLost: (error: Error) => void,
    onShutdown: (by: string) => void = () => {},
  ) {
    this.gpus = swappableGpuSource(gpus);
    this.saver = new StateSaver(ctx, this.gpus, onStateLockLost);
    this.builder = new Builder(ctx, () => this.kick());
    this.builder.requeueInterrupted();
    this.telemetry = new Telemetry(ctx, this.gpus);
    this.usageHistory = new UsageRecorder(ctx, this.gpus);
    // An idle job's owner hears of it where their notify: asks (notify/notifier.ts), with its usage now.
    this.telemetry.onIdle = (job) => ctx.onJobEvent?.(jobEvent('idle', job, job.usage));
    this.pass = new Pass(ctx, {
      gpus: this.gpus,
      builder: this.builder,
      logs: this.logs,
      saver: this.saver,
      runner: this,
      onShutdown,
      onReload: (by, token) => this.reload(by, token),
    });
  }

  /** One full pass (ingest, reap, cancel, schedule, start), for `dopq run --once`. */
  async once(): Promise<void> {
    this.ctx.state.daemon = null;
    await clearStaleSessions(this.ctx);
    await this.runPass();
    // cron: wait for the builds this pass started, then record them (and start what is ready).
    await this.builder.idle();
    await this.runPass();
    await this.builder.abortAll();
    await this.pass.stopsSettled();
    closeAllSessions(this.ctx);
    this.logs.abortAll();
  }

  /** Watch and act until close(); resolves after the first pass. */
  async start(): Promise<void> {
    const { ctx } = this;
    const now = ctx.now();
    this.started = true;
    this.pass.since = now;
    ctx.state.daemon = { pid: process.pid, started_at: now, host: hostname(), heartbeat_at: now };
    await this.saver.openStatus();
    await clearStaleSessions(ctx);
    this.stopEvents = ctx.engine.watchExits(
      ctx.instance,
      (containerId) => {
        this.pass.noteExit(containerId);
        this.kick();
      },
      (error) => {
        if (noteEngineError(ctx, error) !== 'unreachable') ctx.log.error(`Docker events: ${dockerMessage(error)}; reconnecting`);
        this.kick();
      },
    );
    this.watchSpool();
    this.startTimers();
    // Only the first pass: on a busy spool passes follow each other without a gap, and waiting
    // for the loop to go idle would keep a shutdown request or a signal from being heard.
    const first = new Promise<void>((resolve) => (this.afterPass = resolve));
    this.kick();
    await first;
    void this.usageHistory.record(); // a point at start: a chart has something at once
  }

  /** Resolves once no pass is running or wanted. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** What close() waits on now, named by the shutdown watchdog when it fires. */
  closingStep = '';

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.stopEvents?.();
    this.closingStep = 'closing the spool watcher';
    await this.watcher?.close();
    this.closingStep = 'finishing the current pass';
    await this.idle();
    this.closingStep = 'stopping builds';
    await this.builder.abortAll();
    closeAllSessions(this.ctx);
    this.logs.abortAll();
    this.closingStep = 'saving the state';
    await this.saver.saveAtExit();
    this.closingStep = '';
  }

  /** A pass as soon as none is running (one that runs now is followed by another). */
  kick(): void {
    this.dirty = true;
    if (this.running || this.closed) return;
    this.running = (async () => {
      while (this.dirty && !this.closed) {
        this.dirty = false;
        try {
          if (this.reloads.length > 0) await this.applyReload();
          await this.runPass();
        } catch (error) {
          this.ctx.log.error(`pass failed: ${(error as Error).stack ?? String(error)}`);
        }
        this.afterPass?.();
        this.afterPass = undefined;
      }
    })().finally(() => {
      this.running = undefined;
      if (this.dirty && !this.closed) this.kick();
    });
  }

  /**
   * Read the config again before the next pass (`by`: SIGHUP or the admin who asked; `token`:
   * their request's). Passes never overlap, so no pass sees half of one config and half of another.
   */
  reload(by: string, token: string | null = null): void {
    this.reloads.push({ by, token });
    if (this.started) this.kick(); // before start(), its first pass takes it
  }

  /** Another pass right after the one running now. */
  again(): void {
    this.dirty = true;
  }

  /** Ask for another pass in `ms` (engine probe, a save to retry, a suspect to look at again). */
  retryIn(ms: number): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, ms);
  }

  /** Whatever a step of the pass throws, the time limits stay armed. */
  private async runPass(): Promise<void> {
    const began = Date.now();
    try {
      await this.pass.run();
    } finally {
      this.armDeadline();
      const took = Date.now() - began;
      this.ctx.lastPass = { at: Date.now(), ms: took };
      if (took >= 2000) this.ctx.log.info(`pass ${this.pass.count} took ${took} ms`);
    }
  }

  /** A valid config replaces the running one (its GPUs, shares, timers); an invalid one is only reported. */
  private async applyReload(): Promise<void> {
    const { ctx } = this;
    const requests = this.reloads.splice(0);
    const result = await prepareReload(ctx);
    if (result.ok) {
      ctx.config = result.plan.config;
      if (result.plan.gpus) this.gpus.swap(result.plan.gpus);
      this.pass.reconfigure();
      if (this.timers.length > 0) this.startTimers(); // intervals and the GPU poll as the new config says
    }
    ctx.reload = reloadStatus(result, requests, ctx.now());
    for (const line of describeReload(ctx.reload, ctx.config.file)) {
      if (result.ok) ctx.log.info(line);
      else ctx.log.error(line);
    }
  }

  private watchSpool(): void {
    const { ctx } = this;
    // The two folders only, never their entries: chokidar stats and remembers every entry it
    // tracks, and 100,000 files a user dropped held the daemon (1.2 GB, no pass for minutes).
    // A raw event on either folder is the hint; the pass lists the folder itself.
    const folders = [ctx.spool.intake, ctx.spool.requests];
    this.watcher = watch(folders, {
      depth: 0,
      ignoreInitial: true,
      followSymlinks: false,
      ignored: (file: string) => !folders.includes(file),
    });
    this.watcher.on('raw', () => this.kick());
    this.watcher.on('error', (error) => ctx.log.error(`watch: ${(error as Error).message}`));
  }

  private startTimers(): void {
    const { ctx } = this;
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    const every = (seconds: number, action: () => void) => this.timers.push(setInterval(action, Math.max(50, seconds * 1000)));
    // Events are hints: a rescan on a timer is the truth (NFS, overflowed watches, lossy events).
    every(ctx.config.rescan_interval, () => this.kick());
    every(ctx.config.reconcile_interval, () => {
      this.pass.reconcileNext();
      this.kick();
    });
    every(UsageRecorder.intervalSeconds, () => void this.usageHistory.record());
    if (ctx.config.telemetry.interval > 0) {
      // A sample that changed something is saved by a pass (which also applies the idle rule).
      every(ctx.config.telemetry.interval, () => {
        this.telemetry.sample().then(
          (sampled) => sampled && this.kick(),
          (error: Error) => ctx.log.error(`usage sample: ${error.message}`),
        );
      });
    }
    if (ctx.config.gpus === 'auto') {
      every(
        ctx.config.gpu_poll_interval,
        () =>
          void this.gpus.refresh().then(
            () => this.kick(),
            (error: Error) => ctx.log.error(`GPU poll: ${error.message}; keeping the last snapshot`),
          ),
      );
    }
  }

  /** A pass when the first running job reaches its time limit. */
  private armDeadline(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    if (this.closed) return;
    const deadlines = this.ctx.state.jobs
      .filter((job) => job.state === 'running' && !job.stopping && job.started_at !== undefined)
      .map((job) => job.started_at! + job.time_limit * 1000);
    if (deadlines.length === 0) return;
    const wait = Math.min(MAX_TIMER_MS, Math.max(0, Math.min(...deadlines) - this.ctx.now()));
    this.deadlineTimer = setTimeout(() => this.kick(), wait);
  }
}
