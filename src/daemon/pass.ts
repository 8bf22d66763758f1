// What one pass of the daemon does, step by step: gather (engine, intake, requests, exits) ->
// decide (pure policy) -> act (write ahead, create, save, start). When passes run is loop.ts.
import { readIdFloor, writeIdFloor } from '../io/spool/seq.js';
import { discardEntry, removeOrphanContexts } from '../io/spool/spool.js';
import { buildOrder, schedulerInput } from '../core/schedule/schedule-input.js';
import type { Builder } from './images/builder.js';
import { decide, type Reservation } from '../core/schedule/scheduler.js';
import { dependencyHolds } from '../core/job/dependencies.js';
import { cancelForDependency, type StopReason } from '../core/job/job.js';
import { idleToCancel } from './telemetry.js';
import { dockerMessage } from '../io/docker/docker.js';
import { jobById, replaceJob, type DaemonContext } from './context.js';
import type { GpuSource } from './gpu-source.js';
import { disposeConsumed, ingest, type Consumed } from './intake/intake.js';
import { createJobContainer, reap, startJobContainer, type LogSavers } from './jobs/lifecycle.js';
import { reconcile } from './jobs/reconcile.js';
import { handleRequests, noteOnce, type RequestOutcome } from './intake/requests.js';
import { pruneHistory } from './jobs/history.js';
import { createShareResolver, type ShareResolver } from '../io/host/shares.js';
import { noteEngineError, probeEngine, refreshEngineStart } from './engine-health.js';
import type { StateSaver } from './state-saver.js';
import { SlurmBackend } from './slurm/slurm-backend.js';
import type { Submission } from '../core/slurm/submissions.js';

/** How soon a state that could not be saved (a full disk) is tried again. */
const SAVE_RETRY_MS = 2000;

type Placement = { id: number; gpus: string[] };

/** What a pass asks of the loop that runs it. */
export interface PassRunner {
  /** Another pass soon (a stop came back). */
  kick(): void;
  /** Another pass right after this one (GPUs came back). */
  again(): void;
  /** Another pass in `ms` (engine probe, a save to retry, a suspect to look at again). */
  retryIn(ms: number): void;
}

export interface PassParts {
  gpus: GpuSource;
  builder: Builder;
  logs: LogSavers;
  saver: StateSaver;
  runner: PassRunner;
  /** An admin ran `dopq shutdown`. */
  onShutdown: (by: string) => void;
  /** An admin ran `dopq reload`: the config is read again before the next pass. */
  onReload: (by: string, token: string) => void;
}

/** The passes of one daemon, and what one pass leaves the next (exits seen, starts to make). */
export class Pass {
  /** Passes run so far, for the log. */
  count = 0;
  /** When this daemon started watching (requests older than that are from before it). */
  since: number | null = null;
  private readonly exited = new Set<string>();
  private reconcileDue = true;
  private choresDue = true;
  private lastReservation = '';
  private shares: ShareResolver;
  /** Jobs whose container is created and recorded, to be started after the next save. */
  private readonly toStart = new Set<number>();
  /** Intake files taken in while the state could not be saved: dealt with after the next save. */
  private unsavedConsumed: Consumed[] = [];
  /** Steps of a pass that failed, with their last error: logged when it first shows or changes. */
  private readonly failing = new Map<string, string>();
  private readonly stops = new Set<Promise<void>>();
  /**
   * Where jobs run, fixed at start (`backend` is read again only by a restart): this host's engine
   * (the steps below), or Slurm, which places, orders and times them (slurm/slurm-backend.ts).
   */
  private readonly slurm: SlurmBackend | undefined;

  constructor(
    private readonly ctx: DaemonContext,
    private readonly parts: PassParts,
  ) {
    this.shares = createShareResolver(ctx.config, ctx.now);
    this.slurm = ctx.config.backend === 'slurm' ? new SlurmBackend(ctx) : undefined;
  }

  /** The config was reloaded: shares (and whether they name groups) come from the new one. */
  reconfigure(): void {
    this.shares = createShareResolver(this.ctx.config, this.ctx.now);
  }

  /** Docker reported that a container exited: reaped by the next pass. */
  noteExit(containerId: string): void {
    this.exited.add(containerId);
  }

  /** The reconcile timer: match jobs against containers and do the spool's chores next pass. */
  reconcileNext(): void {
    this.reconcileDue = true;
    this.choresDue = true;
  }

  /** Resolves once every stop asked so far has come back. */
  async stopsSettled(): Promise<void> {
    await Promise.all(this.stops);
  }

  async run(): Promise<void> {
    const { ctx } = this;
    this.count += 1;
    if (this.slurm) return this.runOnSlurm(this.slurm);
    // An engine that is away costs nothing that was pushed or asked: take it all in, save it,
    // start nothing, and look again with backoff. When it is back, reconcile first.
    const engine = await this.step('engine probe', 'down' as const, () => probeEngine(ctx));
    if (engine === 'back') this.reconcileDue = true;
    // Each step on its own: a bad entry a user dropped, or a failing chore, stops no other step.
    const intakeFiles = await this.step('intake', [] as Consumed[], () => ingest(ctx));
    const noRequests: RequestOutcome = { consumed: [], toStop: [], shutdownBy: null, reloads: [] };
    const requests = await this.step('requests', noRequests, () => handleRequests(ctx, this.since));
    if (requests.consumed.length >= 500) ctx.log.info(`pass ${this.count}: handled ${requests.consumed.length} requests`);
    const toStop = new Map<number, StopReason>(requests.toStop.map((id) => [id, 'cancelled']));

    await this.reconcileIfDue(toStop);
    await this.reapIfReachable();
    await this.step('housekeeping', undefined, () => this.housekeeping());
    for (const id of this.overTimeLimit()) toStop.set(id, 'time-limit');
    for (const id of idleToCancel(ctx)) if (!toStop.has(id)) toStop.set(id, 'idle-gpus');
    this.cancelFailedDependencies();

    const now = ctx.now();
    ctx.state.gpus = this.parts.gpus.current();
    const placements = ctx.health.down ? [] : await this.step('scheduling', [] as Placement[], () => this.schedule(now));
    // Write-ahead: the placement is on disk before any container is created, so a crash in
    // between leaves a job reconcile queues again, never a GPU held twice. If it cannot be
    // saved (a full disk), nothing starts and nothing consumed is deleted.
    for (const placement of placements) {
      replaceJob(ctx, { ...jobById(ctx, placement.id)!, state: 'running', gpus: placement.gpus, started_at: now });
    }
    if (!(await this.parts.saver.save())) return this.holdUnsaved(intakeFiles, placements, toStop);
    this.stopAll(toStop);
    await this.afterSave(intakeFiles, requests);
    if (!(await this.createContainers(placements))) return;
    await this.startCreated();
    if (ctx.health.down) this.parts.runner.retryIn(Math.max(50, ctx.health.nextProbe - ctx.now()));
    if (ctx.suspects.size > 0) this.parts.runner.retryIn(1000);
  }

  /**
   * A pass with `backend: slurm`: the same intake and requests, then Slurm's word into the records
   * (slurm/slurm-backend.ts), and the jobs that may run handed to Slurm, written ahead. Slurm
   * orders them, starts them, enforces their time limits; no container is made here.
   */
  private async runOnSlurm(slurm: SlurmBackend): Promise<void> {
    const { ctx } = this;
    const intakeFiles = await this.step('intake', [] as Consumed[], () => ingest(ctx));
    const noRequests: RequestOutcome = { consumed: [], toStop: [], shutdownBy: null, reloads: [] };
    const requests = await this.step('requests', noRequests, () => handleRequests(ctx, this.since));
    await this.step('housekeeping', undefined, () => this.housekeeping());
    // Slurm first: jobs that ended there end here, so that jobs after them may go this pass.
    await this.step('Slurm state (squeue)', undefined, () => slurm.mirror());
    this.cancelFailedDependencies();
    const now = ctx.now();
    const due = await this.step('Slurm submissions', [] as Submission[], () => slurm.intend(now));
    // Write-ahead: each job's "being submitted" mark is on disk before sbatch runs.
    if (!(await this.parts.saver.save())) {
      slurm.forget(due);
      return this.holdUnsaved(intakeFiles, [], new Map());
    }
    await this.afterSave(intakeFiles, requests);
    await this.step('Slurm cancels (scancel)', undefined, () => slurm.stop(new Map(requests.toStop.map((id) => [id, 'cancelled']))));
    await this.step('Slurm submissions (sbatch)', undefined, () => slurm.submit(due));
    await this.step('Slurm fair-share (sshare)', undefined, () => slurm.refreshShares(ctx.now()));
    await this.parts.saver.save();
  }

  /** Once the state is saved: the files it accounts for go, and an admin's shutdown or reload is passed on. */
  private async afterSave(intakeFiles: Consumed[], requests: RequestOutcome): Promise<void> {
    const { ctx } = this;
    const consumed = [...intakeFiles, ...this.unsavedConsumed];
    this.unsavedConsumed = [];
    ctx.unsaved.clear();
    await this.disposeTaken(consumed, requests.consumed);
    if (requests.shutdownBy !== null) {
      ctx.log.info(`shutdown requested by ${requests.shutdownBy}`);
      this.parts.onShutdown(requests.shutdownBy);
    }
    for (const { by, token } of requests.reloads) this.parts.onReload(by, token);
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

  /** At start, on the reconcile timer and when the engine is back: the engine's containers are the truth. */
  private async reconcileIfDue(toStop: Map<number, StopReason>): Promise<void> {
    const { ctx } = this;
    if (!this.reconcileDue || ctx.health.down) return;
    this.reconcileDue = false;
    try {
      await refreshEngineStart(ctx);
      const result = await reconcile(ctx, this.parts.logs, this.parts.builder.busy);
      for (const id of result.toStop) toStop.set(id, jobById(ctx, id)?.stopping ?? 'cancelled');
      for (const id of result.toStart) this.toStart.add(id);
    } catch (error) {
      this.reconcileDue = true;
      noteEngineError(ctx, error);
      ctx.log.error(`reconcile failed: ${dockerMessage(error)}; retrying on the next pass`);
    }
  }

  private async reapIfReachable(): Promise<void> {
    const { ctx } = this;
    if (ctx.health.down) return;
    await this.reapExited().catch((error: unknown) => {
      this.reconcileDue = true; // the exit hints are spent: let the listing find those jobs
      noteEngineError(ctx, error);
      ctx.log.error(`reaping failed: ${dockerMessage(error)}`);
    });
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
    await Promise.all(jobs.map((job) => reap(this.ctx, this.parts.logs, job.id)));
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

  /** Queued jobs whose `after:` job ended other than done never run: cancelled, and so on down a chain. */
  private cancelFailedDependencies(): void {
    const { ctx } = this;
    const now = ctx.now();
    for (let failed = dependencyHolds(ctx.state.jobs).failed; failed.size > 0; failed = dependencyHolds(ctx.state.jobs).failed) {
      for (const [id, { on, state }] of failed) {
        replaceJob(ctx, cancelForDependency(jobById(ctx, id)!, on, state, now));
        ctx.log.info(`cancelled: job ${on}, which it runs after, ended ${state}`, id);
      }
    }
  }

  private overTimeLimit(): number[] {
    const now = this.ctx.now();
    return this.ctx.state.jobs
      .filter(
        (job) => job.state === 'running' && !job.stopping && job.started_at !== undefined && job.started_at + job.time_limit * 1000 <= now,
      )
      .map((job) => job.id);
  }

  /** The pure decision: which builds go on, which jobs start on which GPUs. */
  private async schedule(now: number): Promise<Placement[]> {
    const { ctx } = this;
    const active = ctx.state.jobs.filter((job) => job.state === 'queued' || job.state === 'running');
    const shares = await this.shares.sharesOf(active.map((job) => job.user));
    // Builds first, in start order: they never wait for a GPU, and a built job may start now.
    this.parts.builder.tick(buildOrder(ctx.state, ctx.config, { now, shares }));
    const decided = decide(schedulerInput(ctx.state, ctx.config, { now, shares }));
    this.noteReservation(decided.reservation);
    return decided.starts;
  }

  /** Log a reservation when it first appears or moves, not on every pass. */
  private noteReservation(reservation: Reservation | null): void {
    const key = reservation ? `${reservation.id}@${reservation.at}:${reservation.gpus.join(',')}` : '';
    if (key === this.lastReservation) return;
    this.lastReservation = key;
    if (reservation) {
      this.ctx.log.info(
        `reserved GPUs ${reservation.gpus.join(',')} from ${new Date(reservation.at).toISOString()}; only jobs that leave them free until then may start first`,
        reservation.id,
      );
    }
  }

  /** The state could not be saved: keep what was taken in for the next save, place nothing, stop what must stop. */
  private holdUnsaved(intakeFiles: Consumed[], placements: Placement[], toStop: Map<number, StopReason>): void {
    const { ctx } = this;
    for (const { file } of intakeFiles) ctx.unsaved.add(file);
    this.unsavedConsumed.push(...intakeFiles);
    for (const placement of placements) {
      const { started_at: _s, ...job } = jobById(ctx, placement.id)!;
      replaceJob(ctx, { ...job, state: 'queued', gpus: [] });
    }
    // Nothing starts, but running jobs still end at their time limit or when cancelled.
    this.stopAll(toStop);
    this.parts.runner.retryIn(SAVE_RETRY_MS);
  }

  private stopAll(toStop: Map<number, StopReason>): void {
    if (this.ctx.health.down) return;
    for (const [id, reason] of toStop) this.requestStop(id, reason);
  }

  private requestStop(id: number, reason: StopReason): void {
    const { ctx } = this;
    const job = jobById(ctx, id);
    if (!job || job.state !== 'running') return;
    if (job.stopping !== reason) replaceJob(ctx, { ...job, stopping: reason, stop_requested_at: ctx.now() });
    if (!job.container_id) return;
    const containerId = job.container_id;
    if (reason === 'time-limit') ctx.log.info(`time limit of ${job.time_limit}s reached; stopping`, id);
    if (reason === 'idle-gpus')
      ctx.log.info(`its GPUs stayed idle for ${ctx.config.idle.cancel_after}s (idle.action: cancel); stopping`, id);
    const stopping = ctx.engine
      .stop(containerId, ctx.config.stop_grace)
      .catch((error: Error) => ctx.log.error(`stop failed: ${dockerMessage(error)}`, id))
      .finally(() => {
        this.stops.delete(stopping);
        this.exited.add(containerId); // in case the die event was lost
        this.parts.runner.kick();
      });
    this.stops.add(stopping);
  }

  /** Intake and request files the saved state accounts for go, after the job-number floor. */
  private async disposeTaken(consumed: Consumed[], requestFiles: string[]): Promise<void> {
    const { ctx } = this;
    // The floor goes up before the intake files it covers go: a push lists the intake, then
    // reads the floor, so it sees each number either way. Not written, the files stay (the
    // next pass finds them in the state and removes them then).
    const floored = await this.step('job-number floor', false, () => this.raiseIdFloor());
    await this.step('clean-up of consumed files', undefined, async () => {
      await Promise.all([
        floored ? disposeConsumed(ctx, consumed) : Promise.resolve(),
        ...requestFiles.map((file) => discardEntry(file, ctx.spool.rejected).catch(() => undefined)),
      ]);
    });
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

  /**
   * Create, save the container IDs, then start: a crash at any point leaves a record that says
   * what exists, so reconcile never has to guess whether a job ran. False: not saved.
   */
  private async createContainers(placements: Placement[]): Promise<boolean> {
    const { ctx } = this;
    if (placements.length === 0) return true;
    const created = await Promise.all(placements.map((placement) => createJobContainer(ctx, jobById(ctx, placement.id)!)));
    for (const job of created) {
      replaceJob(ctx, job);
      if (job.state === 'running' && job.container_id) this.toStart.add(job.id);
    }
    if (created.some((job) => job.state !== 'running')) this.parts.runner.again(); // GPUs came back
    if (await this.parts.saver.save()) return true;
    this.parts.runner.retryIn(SAVE_RETRY_MS);
    return false;
  }

  /** Start the containers created and recorded (this pass, or before a daemon restart). */
  private async startCreated(): Promise<void> {
    const { ctx } = this;
    if (this.toStart.size === 0 || ctx.health.down) return;
    const ids = [...this.toStart];
    this.toStart.clear();
    const started = await Promise.all(
      ids
        .map((id) => jobById(ctx, id))
        .filter((job) => job?.state === 'running')
        .map((job) => startJobContainer(ctx, job!)),
    );
    for (const job of started) {
      replaceJob(ctx, job);
      if (job.state === 'running') void this.parts.logs.ensure(ctx, job);
    }
    await this.parts.saver.save();
    if (started.some((job) => job.state !== 'running')) this.parts.runner.again();
  }
}
