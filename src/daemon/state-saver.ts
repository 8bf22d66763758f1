// Saving the daemon's state, and what waits on a save: containers whose outcome the state
// records are removed only once it is on disk, the status file says whether saving works, and
// `dopq q`'s view of the saved state is written for q to print (queue-view-cache.ts).
import type { Config } from '../core/config/config.js';
import { buildQueueView } from '../core/view/queue-view.js';
import { createShareResolver, type ShareResolver } from '../io/host/shares.js';
import { openStatusFile, type DaemonStatus, type StatusWriter } from '../io/spool/daemon-status.js';
import { configPrint, writeQueueViewCache } from '../io/spool/queue-view-cache.js';
import { createStateWriter, type StateWriter } from '../io/spool/state-store.js';
import type { DaemonContext } from './context.js';
import { noteEngineError } from './engine-health.js';
import type { GpuSource } from './gpu-source.js';

export class StateSaver {
  private readonly writer: StateWriter;
  private status: StatusWriter | undefined;
  private saveError: { since: number; error: string } | null = null;
  /** What the status file said last: the view shows it. */
  private lastStatus: DaemonStatus | undefined;
  private viewDue = false;
  private viewWriting: Promise<void> | undefined;
  private closing = false;
  private shares: { config: Config; resolver: ShareResolver } | undefined;

  constructor(
    private readonly ctx: DaemonContext,
    private readonly gpus: GpuSource,
    onStateLockLost: (error: Error) => void,
  ) {
    this.writer = createStateWriter(ctx.spool.state, onStateLockLost);
  }

  /** The status file (`dopq q` reads it): a daemon that cannot keep one runs on without. */
  async openStatus(): Promise<void> {
    this.status = await openStatusFile(this.ctx.spool.daemonStatus).catch((error: Error) => {
      this.ctx.log.error(`cannot keep ${this.ctx.spool.daemonStatus}: ${error.message}`);
      return undefined;
    });
  }

  /**
   * Save the state; once it is on disk, remove the containers whose outcome it records. On a
   * failure (no space) the daemon carries on with what it has in memory and says so in q.
   */
  async save(): Promise<boolean> {
    const { ctx } = this;
    ctx.state.daemon = ctx.state.daemon ? { ...ctx.state.daemon, heartbeat_at: ctx.now(), engine: this.engineInfo() } : null;
    try {
      await this.writer.write(this.snapshot());
    } catch (error) {
      const message = (error as NodeJS.ErrnoException).code === 'ENOSPC' ? "no space left on the spool's disk" : (error as Error).message;
      if (!this.saveError) ctx.log.error(`state not saved: ${message}; running jobs continue, nothing starts until it can be saved`);
      this.saveError ??= { since: ctx.now(), error: message };
      await this.writeStatus();
      return false;
    }
    if (this.saveError) ctx.log.info(`state saved again after ${Math.round((ctx.now() - this.saveError.since) / 1000)}s`);
    this.saveError = null;
    await this.writeStatus();
    this.removeRecorded();
    this.refreshQueueView();
    return true;
  }

  /** The last save, as the daemon stops: no daemon in the record, and a failure only logged. */
  async saveAtExit(): Promise<void> {
    this.closing = true;
    await this.viewWriting;
    this.ctx.state.daemon = null;
    await this.writer.write(this.snapshot()).catch((error: Error) => this.ctx.log.error(`state not saved at exit: ${error.message}`));
    await this.status?.close();
  }

  private snapshot() {
    this.ctx.state.gpus = this.gpus.current();
    return this.ctx.state;
  }

  private removeRecorded(): void {
    const { ctx } = this;
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
  }

  private engineInfo() {
    const down = this.ctx.health.down;
    return { reachable: down === null, since: down?.since ?? null, error: down?.error ?? null };
  }

  private async writeStatus(): Promise<void> {
    if (!this.status) return;
    this.lastStatus = await this.status.write({
      pid: process.pid,
      at: this.ctx.now(),
      engine: this.engineInfo(),
      save_error: this.saveError,
      reload: this.ctx.reload,
      ...(this.ctx.lastPass ? { last_pass: this.ctx.lastPass } : {}),
    });
  }

  /**
   * After a save, the view of it for `dopq q`: built once the pass has gone on (it is on no
   * job's way to its GPUs), and only the latest when saves come faster than views are written.
   */
  private refreshQueueView(): void {
    if (!this.status || this.ctx.state.daemon === null || this.closing) return; // `run --once`: no daemon for q to ask
    this.viewDue = true;
    this.viewWriting ??= (async () => {
      while (this.viewDue && !this.closing) {
        this.viewDue = false;
        await new Promise((resolve) => setImmediate(resolve));
        await this.writeQueueView().catch((error: Error) =>
          this.ctx.log.error(`${this.ctx.spool.queueView} not written: ${error.message}`),
        );
      }
    })().finally(() => (this.viewWriting = undefined));
  }

  private async writeQueueView(): Promise<void> {
    const { ctx } = this;
    if (this.shares?.config !== ctx.config) this.shares = { config: ctx.config, resolver: createShareResolver(ctx.config, ctx.now) };
    const shares = await this.shares.resolver.sharesOf(ctx.state.jobs.map((job) => job.user));
    // From here to the write, nothing yields: the view, the generation and the status agree.
    const generation = this.writer.generation();
    const status = this.lastStatus;
    if (!generation || !status) return;
    const now = ctx.now();
    const view = buildQueueView(ctx.state, [], { now, config: ctx.config, shares, daemonAlive: true, all: false, status });
    const basis = {
      generation,
      config: configPrint(ctx.config),
      status,
      at: now,
    };
    await writeQueueViewCache(ctx.spool.queueView, basis, view);
  }
}
