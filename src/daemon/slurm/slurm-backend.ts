// `backend: slurm`: the daemon's "decide and act" when Slurm places, orders and times the jobs.
// Intake, validation, requests, builds and the state stay the daemon's own (pass.ts); this hands
// queued jobs to Slurm (sbatch as their owner), mirrors Slurm's word into the records each pass
// (squeue, sacct for what it forgot), and turns dopq's rm/hold/release into scancel/scontrol.
// Write-ahead: a job is marked as being submitted, and that mark saved, before sbatch runs; a
// mark found without a Slurm id is looked up by name before the job is submitted again.
import { failToStart, type JobRecord, type StopReason } from '../../core/job/job.js';
import { jobEvent } from '../../core/job/job-events.js';
import { accountingLookups, mirrorSlurm } from '../../core/slurm/mirror.js';
import { batchScript, NODE_HELPER, sbatchArgs, signalLead, slurmJobName } from '../../core/slurm/sbatch.js';
import type { SlurmJob } from '../../core/slurm/slurm-job.js';
import { submissionsDue, type Submission } from '../../core/slurm/submissions.js';
import { ensureJobLog } from '../../io/files/job-log.js';
import { accountOf } from '../../io/host/users.js';
import { sbatchRefusal } from '../../core/slurm/sbatch-refusal.js';
import { slurmCommands, SlurmCommandError, type SlurmCommands } from '../../io/slurm/slurm-commands.js';
import { jobById, replaceJob, type DaemonContext } from '../context.js';
import { loadSpec, logFile } from '../jobs/lifecycle.js';

/** How often Slurm's fair-share standing (sshare) is read for `dopq q`'s users table. */
const SHARES_EVERY_MS = 10_000;
/** sbatch's words for a job it will never take as it is; anything else (no controller, a timeout) is tried again. */
const REFUSED =
  /Batch job submission failed: (?!.*(Unable to contact|Socket timed out|Zero Bytes|Communication connection|temporarily))|Invalid (account|partition|generic resource|qos)|Requested node configuration is not available/i;

export class SlurmBackend {
  private sharesAt = 0;
  /** When squeue was last asked (ms). */
  private queueAt = -Infinity;
  /** `dopq top` carried to Slurm: each job's top_at last sent (after a restart, sent again, in order). */
  private readonly topped = new Map<number, number>();

  constructor(
    private readonly ctx: DaemonContext,
    private readonly commands: SlurmCommands = slurmCommands({ binDir: ctx.config.slurm.bin }),
  ) {}

  /** This spool's mark on its Slurm jobs: jobs of another dopq on the same cluster are never touched. */
  get comment(): string {
    return `dopq:${this.ctx.instance}`;
  }

  /**
   * Slurm's word into the records: states, nodes, GPUs, pending reasons and priorities, outcomes.
   * Then what that asks: holds and releases Slurm lacks, stops to send again, jobs of ours that no
   * live record stands for (cancelled by dopq while pending, or a duplicate submission) cancelled.
   */
  async mirror(): Promise<void> {
    const { ctx } = this;
    // With no job of ours in Slurm, asked only now and then: for jobs dopq cancelled while they waited.
    const now = ctx.now();
    const live = ctx.state.jobs.some(
      (job) => (job.state === 'queued' || job.state === 'running') && (job.slurm_job_id !== undefined || job.slurm_submit_at !== undefined),
    );
    if (!live && now - this.queueAt < ctx.config.reconcile_interval * 1000) return;
    this.queueAt = now;
    const squeue = await this.commands.queue();
    const base = { jobs: ctx.state.jobs, squeue, comment: this.comment, nameOf: slurmJobName };
    const lookups = accountingLookups(base);
    let sacct: SlurmJob[] | null = [];
    if (lookups.ids.length > 0 || lookups.names.length > 0) {
      const since = Math.min(
        ctx.now(),
        ...ctx.state.jobs.filter((job) => job.state === 'queued' || job.state === 'running').map((job) => job.submitted_at),
      );
      sacct = await this.commands.accounting({ ...lookups, since: since - 3600_000 }).catch((error: Error) => {
        ctx.log.error(`sacct: ${error.message}; jobs Slurm's controller forgot wait for it`);
        return null;
      });
    }
    const result = mirrorSlurm({ ...base, sacct, termLead: signalLead(this.grace()), now: ctx.now() });
    for (const job of result.updates) replaceJob(ctx, job);
    for (const id of result.started) {
      const job = jobById(ctx, id)!;
      ctx.log.info(`running in Slurm as job ${job.slurm_job_id} on ${job.slurm?.node ?? '?'} (GPUs ${job.gpus.join(',') || '-'})`, id);
      ctx.onJobEvent?.(jobEvent('start', job));
    }
    for (const job of result.updates) {
      if (job.state !== 'queued' && job.state !== 'running')
        ctx.log.info(`${job.state}: ${job.reason ?? '-'}, exit code ${job.exit_code ?? '-'}`, job.id);
    }
    for (const id of result.resubmit) {
      const { slurm_submit_at: _at, ...job } = jobById(ctx, id)!;
      replaceJob(ctx, job);
      ctx.log.info('its submission never reached Slurm; submitting it again', id);
    }
    await this.act('scancel', result.cancel, (ids) => this.commands.cancel(ids));
    await this.act('scontrol hold', result.hold, (ids) => this.commands.hold(ids));
    await this.act('scontrol release', result.release, (ids) => this.commands.release(ids));
    await this.topInSlurm();
  }

  /** `dopq top` as `scontrol top`, which means the same: ahead of the owner's other pending jobs. Oldest first, so the latest ends on top. */
  private async topInSlurm(): Promise<void> {
    for (const id of this.topped.keys()) if (jobById(this.ctx, id)?.state !== 'queued') this.topped.delete(id);
    const due = this.ctx.state.jobs
      .filter((job) => job.state === 'queued' && job.slurm_job_id !== undefined && job.top_at !== undefined)
      .filter((job) => job.top_at! > (this.topped.get(job.id) ?? 0))
      .sort((a, b) => a.top_at! - b.top_at!);
    for (const job of due) {
      this.topped.set(job.id, job.top_at!);
      await this.act('scontrol top', [job.slurm_job_id!], ([id]) => this.commands.top(id!));
    }
  }

  /**
   * The jobs to hand to Slurm now, each marked in memory as being submitted: the caller saves
   * that mark before `submit` runs sbatch. Jobs Slurm cannot run (a terminal, a build) fail here.
   */
  async intend(now: number): Promise<Submission[]> {
    const { ctx } = this;
    const due: Submission[] = [];
    for (const submission of submissionsDue(ctx.state)) {
      const job = jobById(ctx, submission.id)!;
      const refusal = await this.refusal(job);
      if (refusal) {
        ctx.log.error(`failed: ${refusal}`, job.id);
        replaceJob(ctx, failToStart(job, refusal, now));
        continue;
      }
      replaceJob(ctx, { ...job, slurm_submit_at: now });
      due.push(submission);
    }
    // Jobs Slurm cannot run end now rather than wait forever: a terminal, or an image to build here.
    for (const job of ctx.state.jobs.filter(
      (j) => j.state === 'queued' && j.slurm_job_id === undefined && (j.interactive || j.needs_image),
    )) {
      const refusal = job.interactive
        ? 'interactive jobs (dopq shell) need backend: docker'
        : 'jobs with build: or image_archive: do not run on Slurm: push an image every node has (image:)';
      ctx.log.error(`failed: ${refusal}`, job.id);
      const { needs_image: _n, ...rest } = job;
      replaceJob(ctx, failToStart(rest, refusal, now));
    }
    return due;
  }

  /** The marks were not saved: nothing is submitted, and the jobs are as they were. */
  forget(due: readonly Submission[]): void {
    for (const { id } of due) {
      const job = jobById(this.ctx, id);
      if (job?.slurm_job_id !== undefined || job?.slurm_submit_at === undefined) continue;
      const { slurm_submit_at: _at, ...rest } = job;
      replaceJob(this.ctx, rest);
    }
  }

  /** sbatch each job, as its owner, after its mark is on disk; its Slurm id goes into its record. */
  async submit(due: readonly Submission[]): Promise<void> {
    const { ctx } = this;
    for (const submission of due) {
      const job = jobById(ctx, submission.id);
      if (!job || job.state !== 'queued' || job.slurm_submit_at === undefined || job.slurm_job_id !== undefined) continue;
      let request: [string[], string];
      try {
        request = await this.request(job, submission);
      } catch (error) {
        // The job's own file or owner is gone: no later pass would do better.
        const message = error instanceof Error ? error.message : String(error);
        ctx.log.error(`failed to submit: ${message}`, job.id);
        const { slurm_submit_at: _at, ...rest } = job;
        replaceJob(ctx, failToStart(rest, message, ctx.now()));
        continue;
      }
      try {
        const slurmId = await this.commands.submit(...request);
        replaceJob(ctx, { ...jobById(ctx, job.id)!, slurm_job_id: slurmId });
        ctx.log.info(
          `submitted to Slurm as job ${slurmId}${submission.dependency ? ` (--dependency=${submission.dependency})` : ''}`,
          job.id,
        );
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (error instanceof SlurmCommandError && REFUSED.test(message)) {
          const refusal = sbatchRefusal(error.detail, job.user, ctx.config.slurm.account);
          ctx.log.error(refusal, job.id);
          const { slurm_submit_at: _at, ...rest } = jobById(ctx, job.id)!;
          replaceJob(ctx, failToStart(rest, refusal, ctx.now()));
        } else {
          // Maybe Slurm took it after all: the mark stays, and the next pass looks for it by name.
          ctx.log.error(`not submitted: ${message}; looked up and tried again`, job.id);
        }
      }
    }
  }

  /** Stop running jobs (dopq rm): scancel sends TERM, the node helper stops the container. */
  async stop(toStop: ReadonlyMap<number, StopReason>): Promise<void> {
    const ids: number[] = [];
    for (const id of toStop.keys()) {
      const job = jobById(this.ctx, id);
      if (job?.state === 'running' && job.slurm_job_id !== undefined) ids.push(job.slurm_job_id);
    }
    await this.act('scancel', ids, (list) => this.commands.cancel(list));
  }

  /** Slurm's fair-share standing for `dopq q` (sshare), every few seconds; nothing when accounting is off. */
  async refreshShares(now: number): Promise<void> {
    if (now - this.sharesAt < SHARES_EVERY_MS) return;
    this.sharesAt = now;
    // A user may have associations in several accounts: dopq's jobs go to one.
    const account = this.ctx.config.slurm.account;
    const rows = (await this.commands.shares()).filter((row) => account === null || row.account === account);
    this.ctx.state.slurm_shares = { at: now, rows };
  }

  /** sbatch's arguments and script for `job`: the owner's ids from the user database, never the manifest. */
  private async request(job: JobRecord, submission: Submission): Promise<[string[], string]> {
    const { ctx } = this;
    const spec = await loadSpec(ctx, job.id);
    if (!spec) throw new Error('the job file in the spool is missing');
    const account = await accountOf(spec.uid);
    if (!account) throw new Error(`uid ${spec.uid} is no longer a user on this machine`);
    await ensureJobLog(logFile(ctx, job.id), spec.uid);
    const settings = {
      partition: ctx.config.slurm.partition,
      account: ctx.config.slurm.account,
      logFile: logFile(ctx, job.id),
      configFile: ctx.config.file,
      helper: ctx.config.slurm.helper ?? NODE_HELPER,
      termGrace: this.grace(),
    };
    const args = [
      ...sbatchArgs({ id: job.id, uid: spec.uid, gid: account.gid, manifest: spec.manifest }, settings).filter(
        (arg) => arg !== '--parsable',
      ),
      `--comment=${this.comment}`,
      // A dependency that fails is dopq's to end (dependency-failed), not Slurm's: no --kill-on-invalid-dep.
      ...(submission.dependency ? [`--dependency=${submission.dependency}`] : []),
    ];
    return [args, batchScript(job, settings)];
  }

  /** Seconds the node helper gives a job to stop, before its time limit (slurm.term_grace). */
  private grace(): number {
    return this.ctx.config.slurm.term_grace;
  }

  /** Why Slurm cannot run `job` as dopq would, or undefined. */
  private async refusal(job: JobRecord): Promise<string | undefined> {
    if (job.interactive) return 'interactive jobs (dopq shell) need backend: docker';
    const spec = await loadSpec(this.ctx, job.id);
    if (!spec) return 'the job file in the spool is missing';
    if (spec.manifest.build || spec.manifest.image_archive)
      return 'jobs with build: or image_archive: do not run on Slurm: push an image every node has (image:)';
    return undefined;
  }

  /** A Slurm command on a list of jobs; a failure is logged (the next pass sees what is left). */
  private async act(what: string, ids: readonly number[], action: (ids: readonly number[]) => Promise<void>): Promise<void> {
    if (ids.length === 0) return;
    await action(ids).catch((error: Error) => this.ctx.log.error(`${what} ${ids.join(' ')}: ${error.message}`));
  }
}
