// The `dopq run` loop: gather (intake, requests, engine) -> decide (pure policy) -> act.
// Passes never overlap; anything that happens during one (a push, a container exit) asks for
// another, so a freed GPU is reused as soon as Docker reports the exit.
import { readIdFloor, writeIdFloor } from '../io/seq.js';
import { discardEntry, removeOrphanContexts } from '../io/spool.js';
import { hostname } from 'node:os';
import { watch, type FSWatcher } from 'chokidar';
import { buildOrder, schedulerInput } from '../core/schedule-input.js';
import { Builder } from './builder.js';
import { decide, type Reservation } from '../core/scheduler.js';
import { createStateWriter, type StateWriter } from '../io/state-store.js';
import { dockerMessage } from '../io/docker.js';
import { jobById, replaceJob, type DaemonContext } from './context.js';
import type { GpuSource } from './gpu-source.js';
import { disposeConsumed, ingest, type Consumed } from './intake.js';
import { createJobContainer, createLogSavers, reap, startJobContainer, type LogSavers } from './lifecycle.js';
import { reconcile } from './reconcile.js';
import { handleRequests, noteOnce, type RequestOutcome } from './requests.js';
import { pruneHistory } from './history.js';
import { createShareResolver, type ShareResolver } from '../io/shares.js';
import { openStatusFile, type StatusWriter } from '../io/daemon-status.js';
import { noteEngineError, probeEngine, refreshEngineStart } from './engine-health.js';

/** How soon a state that could not be saved (a full disk) is tried again. */
const SAVE_RETRY_MS = 2000;

const MAX_TIMER_MS = 2 ** 31 - 1;

export class Daemon {
  private readonly logs: LogSavers = createLogSavers();
  private readonly writer: StateWriter;
  private readonly exited = new Set<string>();
  private dirty = false;
  private reconcileDue = true;
  private loop: Promise<void> | undefined;
  private closed = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private deadlineTimer: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private stopEvents: (() => void) | undefined;
  private readonly stops = new Set<Promise<void>>();
  private readonly shares: ShareResolver;
  private lastReservation = '';
  private readonly builder: Builder;
  private since: number | null = null;
  private choresDue = true;
  private afterPass: (() => void) | undefined;
  /** Jobs whose container is created and recorded, to be started after the next save. */
  private readonly toStart = new Set<number>();
  /** Intake files taken in while the state could not be saved: dealt with after the next save. */
  private unsavedConsumed: Consumed[] = [];
  private saveError: { since: number; error: string } | null = null;
  private status: StatusWriter | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Steps of a pass that failed, with their last error: logged when it first shows or changes. */
  private readonly failing = new Map<string, string>();
  private passes = 0;

  /** `onShutdown`: an admin ran `dopq shutdown`; the caller stops us as on SIGTERM. */
  constructor(
    private readonly ctx: DaemonContext,
    private readonly gpus: GpuSource,
    onStateLockLost: (error: Error) => void,
    private readonly onShutdown: (by: string) => void = () => {},
  ) {
    this.writer = createStateWriter(ctx.spool.state, onStateLockLost);
    this.shares = createShareResolver(ctx.config, ctx.now);
    this.builder = new Builder(ctx, () => this.kick());
    this.builder.requeueInterrupted();
  }

  /** One full pass (ingest, reap, cancel, schedule, start), for `dopq run --once`. */
  async once(): Promise<void> {
    this.ctx.state.daemon = null;
    await this.pass();
    // cron: wait for the builds this pass started, then record them (and start what is ready).
    await this.builder.idle();
    await this.pass();
    await this.builder.abortAll();
    await Promise.all(this.stops);
    this.logs.abortAll();
  }

  /** Watch and act until close(). */
  async start(): Promise<void> {
    const { ctx } = this;
    const now = ctx.now();
    this.since = now;
    ctx.state.daemon = { pid: process.pid, started_at: now, host: hostname(), heartbeat_at: now };
    this.status = await openStatusFile(ctx.spool.daemonStatus).catch((error: Error) => {
      ctx.log.error(`cannot keep ${ctx.spool.daemonStatus}: ${error.message}`);
      return undefined;
    });
    this.stopEvents = ctx.engine.watchExits(
      ctx.instance,
      (containerId) => {
        this.exited.add(containerId);
        this.kick();
      },
      (error) => {
        if (noteEngineError(ctx, error) !== 'unreachable') ctx.log.error(`Docker events: ${dockerMessage(error)}; reconnecting`);
        this.kick();
      },
    );
    // The two folders only, never their entries: chokidar stats and remembers every entry it
    // tracks, and 100,000 files a user dropped held the daemon (1.2 GB, no pass for minutes).
    // A raw event on either folder is the hint; the pass lists the folder itself.
    const folders = [ctx.spool.intake, ctx.spool.requests];
    this.watcher = watch(folders, { depth: 0, ignoreInitial: true, followSymlinks: false, ignored: (file: string) => !folders.includes(file) });
    this.watcher.on('raw', () => this.kick());
    this.watcher.on('error', (error) => ctx.log.error(`watch: ${(error as Error).message}`));
    const every = (seconds: number, action: () => void) => this.timers.push(setInterval(action, Math.max(50, seconds * 1000)));
    // Events are hints: a rescan on a timer is the truth (NFS, overflowed watches, lossy events).
    every(ctx.config.rescan_interval, () => this.kick());
    every(ctx.config.reconcile_interval, () => {
      this.reconcileDue = true;
      this.choresDue = true;
      this.kick();
    });
    if (ctx.config.gpus === 'auto') {
      every(ctx.config.gpu_poll_interval, () =>
        void this.gpus.refresh().then(
          () => this.kick(),
          (error: Error) => ctx.log.error(`GPU poll: ${error.message}; keeping the last snapshot`),
        ),
      );
    }
    // Only the first pass: on a busy spool passes follow each other without a gap, and waiting
    // for the loop to go idle would keep a shutdown request or a signal from being heard.
    const first = new Promise<void>((resolve) => (this.afterPass = resolve));
    this.kick();
    await first;
  }

  /** Resolves once no pass is running or wanted. */
  async idle(): Promise<void> {
    while (this.loop) await this.loop;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.stopEvents?.();
    await this.watcher?.close();
    await this.idle();
    await this.builder.abortAll();
    this.logs.abortAll();
    this.ctx.state.daemon = null;
    await this.writer.write(this.snapshot()).catch((error: Error) => this.ctx.log.error(`state not saved at exit: ${error.message}`));
    await this.status?.close();
  }

  kick(): void {
    this.dirty = true;
    if (this.loop || this.closed) return;
    this.loop = (async () => {
      while (this.dirty && !this.closed) {
        this.dirty = false;
        try {
          await this.pass();
        } catch (error) {
          this.ctx.log.error(`pass failed: ${(error as Error).stack ?? String(error)}`);
        }
        this.afterPass?.();
        this.afterPass = undefined;
      }
    })().finally(() => {
      this.loop = undefined;
      if (this.dirty && !this.closed) this.kick();
    });
  }

  private snapshot() {
    this.ctx.state.gpus = this.gpus.current();
    return this.ctx.state;
  }

  /** Whatever a step of the pass throws, the time limits stay armed. */
  private async pass(): Promise<void> {
    const began = Date.now();
    this.passes += 1;
    try {
      await this.passSteps();
    } finally {
      this.armDeadline();
      const took = Date.now() - began;
      if (took >= 2000) this.ctx.log.info(`pass ${this.passes} took ${took} ms`);
    }
  }

  /** Run one step of a pass on its own: a throw is logged (again only if it changes) and the pass goes on with `fallback`. */
  private async step<T>(name: string, fallback: T, action: () => Promise<T>): Promise<T> {
    try {
      const result = await action();
      if (this.failing.delete(name)) this.ctx.log.info(`${name}: works again`);
      return result;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (this.failing.get(name) !== message) this.ctx.log.error(`${name} failed: ${message}; the rest of the pass goes on`);
      this.failing.set(name, message);
      return fallback;
    }
  }

  private async passSteps(): Promise<void> {
    const { ctx } = this;
    // An engine that is away costs nothing that was pushed or asked: take it all in, save it,
    // start nothing, and look again with backoff. When it is back, reconcile first.
    const engine = await this.step('engine probe', 'down' as const, () => probeEngine(ctx));
    if (engine === 'back') this.reconcileDue = true;
    // Each step on its own: a bad entry a user dropped, or a failing chore, stops no other step.
    const intakeFiles = await this.step('intake', [] as Consumed[], () => ingest(ctx));
    const noRequests: RequestOutcome = { consumed: [], toStop: [], shutdownBy: null };
    const requests = await this.step('requests', noRequests, () => handleRequests(ctx, this.since));
    if (requests.consumed.length >= 500) ctx.log.info(`pass ${this.passes}: handled ${requests.consumed.length} requests`);
    const toStop = new Map<number, 'cancelled' | 'time-limit'>(requests.toStop.map((id) => [id, 'cancelled']));

    if (this.reconcileDue && !ctx.health.down) {
      this.reconcileDue = false;
      try {
        await refreshEngineStart(ctx);
        const result = await reconcile(ctx, this.logs, this.builder.busy);
        for (const id of result.toStop) toStop.set(id, jobById(ctx, id)?.stopping ?? 'cancelled');
        for (const id of result.toStart) this.toStart.add(id);
      } catch (error) {
        this.reconcileDue = true;
        noteEngineError(ctx, error);
        ctx.log.error(`reconcile failed: ${dockerMessage(error)}; retrying on the next pass`);
      }
    }
    if (!ctx.health.down) {
      await this.reapExited().catch((error: unknown) => {
        this.reconcileDue = true; // the exit hints are spent: let the listing find those jobs
        noteEngineError(ctx, error);
        ctx.log.error(`reaping failed: ${dockerMessage(error)}`);
      });
    }
    await this.step('housekeeping', undefined, () => this.housekeeping());

    for (const id of this.overTimeLimit()) toStop.set(id, 'time-limit');

    const now = ctx.now();
    ctx.state.gpus = this.gpus.current();
    let placements: { id: number; gpus: string[] }[] = [];
    if (!ctx.health.down) {
      placements = await this.step('scheduling', [] as typeof placements, async () => {
        const active = ctx.state.jobs.filter((job) => job.state === 'queued' || job.state === 'running');
        const shares = await this.shares.sharesOf(active.map((job) => job.user));
        // Builds first, in start order: they never wait for a GPU, and a built job may start now.
        this.builder.tick(buildOrder(ctx.state, ctx.config, { now, shares }));
        const decided = decide(schedulerInput(ctx.state, ctx.config, { now, shares }));
        this.noteReservation(decided.reservation);
        return decided.starts;
      });
    }
    // Write-ahead: the placement is on disk before any container is created, so a crash in
    // between leaves a job reconcile queues again, never a GPU held twice. If it cannot be
    // saved (a full disk), nothing starts and nothing consumed is deleted.
    for (const placement of placements) {
      replaceJob(ctx, { ...jobById(ctx, placement.id)!, state: 'running', gpus: placement.gpus, started_at: now });
    }
    if (!(await this.save())) {
      for (const { file } of intakeFiles) ctx.unsaved.add(file);
      this.unsavedConsumed.push(...intakeFiles);
      for (const placement of placements) {
        const { started_at: _s, ...job } = jobById(ctx, placement.id)!;
        replaceJob(ctx, { ...job, state: 'queued', gpus: [] });
      }
      // Nothing starts, but running jobs still end at their time limit or when cancelled.
      if (!ctx.health.down) for (const [id, reason] of toStop) this.requestStop(id, reason);
      this.armRetry(SAVE_RETRY_MS);
      return;
    }
    const consumed = [...intakeFiles, ...this.unsavedConsumed];
    this.unsavedConsumed = [];
    ctx.unsaved.clear();
    if (!ctx.health.down) for (const [id, reason] of toStop) this.requestStop(id, reason);
    // The floor goes up before the intake files it covers go: a push lists the intake, then
    // reads the floor, so it sees each number either way. Not written, the files stay (the
    // next pass finds them in the state and removes them then).
    const floored = await this.step('job-number floor', false, () => this.raiseIdFloor());
    await this.step('clean-up of consumed files', undefined, async () => {
      await Promise.all([
        floored ? disposeConsumed(ctx, consumed) : Promise.resolve(),
        ...requests.consumed.map((file) => discardEntry(file, ctx.spool.rejected).catch(() => undefined)),
      ]);
    });

    if (requests.shutdownBy !== null) {
      ctx.log.info(`shutdown requested by ${requests.shutdownBy}`);
      this.onShutdown(requests.shutdownBy);
    }

    if (placements.length > 0) {
      // Create, save the container IDs, then start: a crash at any point leaves a record that
      // says what exists, so reconcile never has to guess whether a job ran.
      const created = await Promise.all(placements.map((placement) => createJobContainer(ctx, jobById(ctx, placement.id)!)));
      for (const job of created) {
        replaceJob(ctx, job);
        if (job.state === 'running' && job.container_id) this.toStart.add(job.id);
      }
      if (created.some((job) => job.state !== 'running')) this.dirty = true; // GPUs came back
      if (!(await this.save())) {
        this.armRetry(SAVE_RETRY_MS);
        return;
      }
    }
    if (this.toStart.size > 0 && !ctx.health.down) {
      const ids = [...this.toStart];
      this.toStart.clear();
      const started = await Promise.all(ids.map((id) => jobById(ctx, id)).filter((job) => job?.state === 'running').map((job) => startJobContainer(ctx, job!)));
      for (const job of started) {
        replaceJob(ctx, job);
        if (job.state === 'running') void this.logs.ensure(ctx, job);
      }
      await this.save();
      if (started.some((job) => job.state !== 'running')) this.dirty = true;
    }
    if (ctx.health.down) this.armRetry(Math.max(50, ctx.health.nextProbe - ctx.now()));
    if (ctx.suspects.size > 0) this.armRetry(1000);
  }

  /** seq/seq raised to the highest job number in the state; true once it is on disk. */
  private async raiseIdFloor(): Promise<boolean> {
    const { ctx } = this;
    const highest = ctx.state.jobs.reduce((max, job) => Math.max(max, job.id), ctx.idFloor);
    if (highest > ctx.idFloor || (await readIdFloor(ctx.spool.seq)) !== ctx.idFloor) {
      await writeIdFloor(ctx.spool.seq, highest);
      ctx.idFloor = highest;
    }
    return true;
  }

  /** Spool chores of the reconcile timer, which need no engine. */
  private async housekeeping(): Promise<void> {
    const { ctx } = this;
    if (!this.choresDue) return;
    this.choresDue = false;
    pruneHistory(ctx);
    const orphans = await removeOrphanContexts(ctx.spool.intake, ctx.now(), ctx.spool.rejected);
    if (orphans.removed > 0) ctx.log.info(`removed ${orphans.removed} build contexts whose push never finished`);
    for (const failure of orphans.failed) noteOnce(ctx, `orphan ${failure}`, `cannot remove an unfinished push's build context ${failure}`);
  }

  /**
   * Save the state; once it is on disk, remove the containers whose outcome it records. On a
   * failure (no space) the daemon carries on with what it has in memory and says so in q.
   */
  private async save(): Promise<boolean> {
    const { ctx } = this;
    ctx.state.daemon = ctx.state.daemon ? { ...ctx.state.daemon, heartbeat_at: ctx.now(), engine: this.engineInfo() } : null;
    try {
      await this.writer.write(this.snapshot());
    } catch (error) {
      const message = (error as NodeJS.ErrnoException).code === 'ENOSPC' ? 'no space left on the spool\'s disk' : (error as Error).message;
      if (!this.saveError) ctx.log.error(`state not saved: ${message}; running jobs continue, nothing starts until it can be saved`);
      this.saveError ??= { since: ctx.now(), error: message };
      await this.writeStatus();
      return false;
    }
    if (this.saveError) ctx.log.info(`state saved again after ${Math.round((ctx.now() - this.saveError.since) / 1000)}s`);
    this.saveError = null;
    await this.writeStatus();
    const removals = [...ctx.removals];
    ctx.removals.clear();
    for (const id of removals) {
      // Not awaited: the GPU is free already, and the next placement should not wait for it.
      ctx.removing.add(id);
      void ctx.engine
        .remove(id)
        .catch((error: Error) => {
          ctx.removals.add(id); // tried again after the next save
          noteEngineError(ctx, error);
        })
        .finally(() => ctx.removing.delete(id));
    }
    return true;
  }

  private engineInfo() {
    const down = this.ctx.health.down;
    return { reachable: down === null, since: down?.since ?? null, error: down?.error ?? null };
  }

  private async writeStatus(): Promise<void> {
    if (!this.status) return;
    await this.status.write({ pid: process.pid, at: this.ctx.now(), engine: this.engineInfo(), save_error: this.saveError });
  }

  /** Ask for another pass in `ms` (engine probe, a save to retry, a suspect to look at again). */
  private armRetry(ms: number): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, ms);
  }

  /** Log a reservation when it first appears or moves, not on every pass. */
  private noteReservation(reservation: Reservation | null): void {
    const key = reservation ? `${reservation.id}@${reservation.at}:${reservation.gpus.join(',')}` : '';
    if (key === this.lastReservation) return;
    this.lastReservation = key;
    if (reservation) {
      this.ctx.log.info(`reserved GPUs ${reservation.gpus.join(',')} from ${new Date(reservation.at).toISOString()}; only jobs that leave them free until then may start first`, reservation.id);
    }
  }

  private async reapExited(): Promise<void> {
    // Containers killed by a signal nobody explained yet are looked at again each pass.
    for (const id of this.ctx.suspects.keys()) {
      const containerId = jobById(this.ctx, id)?.container_id;
      if (containerId) this.exited.add(containerId);
      else this.ctx.suspects.delete(id);
    }
    if (this.exited.size === 0) return;
    const containers = new Set(this.exited);
    this.exited.clear();
    const jobs = this.ctx.state.jobs.filter((job) => job.state === 'running' && job.container_id && containers.has(job.container_id));
    await Promise.all(jobs.map((job) => reap(this.ctx, this.logs, job.id)));
  }

  private overTimeLimit(): number[] {
    const now = this.ctx.now();
    return this.ctx.state.jobs
      .filter((job) => job.state === 'running' && !job.stopping && job.started_at !== undefined && job.started_at + job.time_limit * 1000 <= now)
      .map((job) => job.id);
  }

  private requestStop(id: number, reason: 'cancelled' | 'time-limit'): void {
    const { ctx } = this;
    const job = jobById(ctx, id);
    if (!job || job.state !== 'running') return;
    if (job.stopping !== reason) replaceJob(ctx, { ...job, stopping: reason, stop_requested_at: ctx.now() });
    if (!job.container_id) return;
    const containerId = job.container_id;
    if (reason === 'time-limit') ctx.log.info(`time limit of ${job.time_limit}s reached; stopping`, id);
    const stopping = ctx.engine
      .stop(containerId, ctx.config.stop_grace)
      .catch((error: Error) => ctx.log.error(`stop failed: ${dockerMessage(error)}`, id))
      .finally(() => {
        this.stops.delete(stopping);
        this.exited.add(containerId); // in case the die event was lost
        this.kick();
      });
    this.stops.add(stopping);
  }

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
