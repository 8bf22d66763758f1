// A container engine in memory, for driving the daemon's loop without Docker: containers go
// created -> running -> exited when the test says, exits are reported through watchExits, and
// the engine can become unreachable (every call fails as a closed socket does) and come back,
// restarted or not. Its start time is its pid file's mtime, which is what the daemon reads.
import { EventEmitter, once } from 'node:events';
import { utimes, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { containerNamePrefix, LABEL_JOB, type ContainerSpec } from '../../src/core/job/container-spec.js';
import type { ContainerExit } from '../../src/core/job/job.js';
import type { DockerEngine, EngineImage, JobContainer } from '../../src/io/docker/engine.js';

export interface MemoryContainer {
  id: string;
  name: string;
  jobId: number;
  spec: ContainerSpec;
  state: 'created' | 'running' | 'exited';
  exit?: ContainerExit;
  /** What the job prints, given when it exits. */
  output: string;
  ended: Promise<void>;
  end(): void;
}

/** One call the daemon made, in order; `failed` when the engine refused it (unreachable, no such image). */
export interface EngineCall {
  method: string;
  containerId?: string;
  jobId?: number;
  failed?: boolean;
}

export interface MemoryEngineOptions {
  /** The clock the daemon uses: exit times and the pid file's mtime are on it. */
  now: () => number;
  /** The engine's pid file (config docker.pidfile): its mtime is the engine's start time. */
  pidfile: string;
  /** Image names present, as `name:tag`. */
  images?: string[];
}

export class MemoryEngine implements DockerEngine {
  readonly containers = new Map<string, MemoryContainer>();
  readonly calls: EngineCall[] = [];
  /** Starts made while another running container held one of the same GPUs. */
  readonly overlaps: string[] = [];
  private readonly images = new Map<string, EngineImage>();
  private readonly events = new EventEmitter();
  private readonly watchers = new Set<{ onDie: (id: string) => void; onError: (error: Error) => void }>();
  private reachable = true;
  private startedAt = 0;

  constructor(private readonly options: MemoryEngineOptions) {
    for (const name of options.images ?? []) this.addImage(name);
    this.events.setMaxListeners(0);
  }

  /** The engine's first start: writes its pid file. */
  async boot(): Promise<void> {
    await writeFile(this.options.pidfile, `${process.pid}\n`);
    await this.markStarted();
  }

  addImage(name: string): void {
    const id = `sha256:${randomBytes(32).toString('hex')}`;
    this.images.set(id, {
      id,
      repoTags: [name],
      repoDigests: [],
      layers: [`sha256:${randomBytes(32).toString('hex')}`],
      parent: '',
      onBuild: [],
    });
  }

  // ---- what the test does to the engine ----

  /** The running container of job `jobId` exits with `exitCode` (and printed `output`). */
  exit(jobId: number, exitCode: number, output = ''): void {
    const container = this.runningOf(jobId);
    if (!container) throw new Error(`job ${jobId} has no running container`);
    container.output = output;
    this.finish(container, { exitCode, oomKilled: false, finishedAt: this.options.now() }, true);
  }

  /** The engine stops answering: calls fail as on a closed socket, and the event stream breaks. */
  goDown(): void {
    this.reachable = false;
    for (const watcher of this.watchers) watcher.onError(unreachable());
  }

  /**
   * A restart under the daemon: the engine goes away, killing every running container (137)
   * without a die event reaching anyone. `comeBack` then brings it up with a new start time.
   */
  restart(): void {
    this.goDown();
    for (const container of this.containers.values()) {
      if (container.state === 'running') this.finish(container, { exitCode: 137, oomKilled: false, finishedAt: this.options.now() }, false);
    }
  }

  /** Reachable again; after a restart the pid file is new (mtime later than before by 2 s at least). */
  async comeBack(restarted: boolean): Promise<void> {
    if (restarted) await this.markStarted(this.startedAt + 2000);
    this.reachable = true;
  }

  /** The `nth` call of `method` (for job `jobId`), once the daemon has made it. */
  async called(method: string, jobId?: number, nth = 1): Promise<EngineCall> {
    for (;;) {
      const matching = this.calls.filter((call) => call.method === method && !call.failed && (jobId === undefined || call.jobId === jobId));
      if (matching.length >= nth) return matching[nth - 1]!;
      await once(this.events, 'call');
    }
  }

  /** Resolves at the next call the daemon makes, whatever it is (rejects once `signal` aborts). */
  async nextCall(signal?: AbortSignal): Promise<void> {
    await once(this.events, 'call', signal ? { signal } : {});
  }

  // ---- DockerEngine ----

  async ping(): Promise<void> {
    this.record('ping');
  }

  async create(spec: ContainerSpec): Promise<string> {
    const jobId = Number(spec.Labels[LABEL_JOB]);
    const missing = this.images.has(spec.Image) ? undefined : Object.assign(new Error(`No such image: ${spec.Image}`), { statusCode: 404 });
    this.record('create', undefined, jobId, missing);
    const existing = [...this.containers.values()].find((c) => c.name === spec.name);
    if (existing?.state === 'running') throw new Error(`a container of this job (${spec.name}) is still running`);
    if (existing) this.containers.delete(existing.id);
    let end!: () => void;
    const ended = new Promise<void>((resolve) => (end = resolve));
    const container: MemoryContainer = {
      id: randomBytes(32).toString('hex'),
      name: spec.name,
      jobId,
      spec,
      state: 'created',
      output: '',
      ended,
      end,
    };
    this.containers.set(container.id, container);
    this.calls.at(-1)!.containerId = container.id;
    return container.id;
  }

  async startCreated(containerId: string): Promise<void> {
    const container = this.record('startCreated', containerId);
    if (!container) throw Object.assign(new Error(`No such container: ${containerId}`), { statusCode: 404 });
    if (container.state !== 'created') return;
    const gpus = gpusOf(container.spec);
    for (const other of this.containers.values()) {
      if (other.state === 'running' && gpusOf(other.spec).some((gpu) => gpus.includes(gpu)))
        this.overlaps.push(
          `job ${container.jobId} started on GPUs ${gpus.join(',')} while job ${other.jobId} ran on ${gpusOf(other.spec).join(',')}`,
        );
    }
    container.state = 'running';
  }

  async list(instance: string): Promise<JobContainer[]> {
    this.record('list');
    const prefix = containerNamePrefix(instance);
    return [...this.containers.values()]
      .filter((c) => c.name.startsWith(prefix))
      .map((c) => ({ id: c.id, jobId: c.jobId, running: c.state === 'running', created: c.state === 'created' }));
  }

  async exitOf(containerId: string): Promise<ContainerExit | undefined> {
    const container = this.record('exitOf', containerId);
    return container?.state === 'exited' ? container.exit : undefined;
  }

  async stop(containerId: string): Promise<void> {
    const container = this.record('stop', containerId);
    if (container?.state === 'running') this.finish(container, { exitCode: 143, oomKilled: false, finishedAt: this.options.now() }, true);
  }

  async remove(containerId: string): Promise<void> {
    const container = this.record('remove', containerId);
    if (container) {
      container.end();
      this.containers.delete(containerId);
    }
  }

  async attachOutput(containerId: string, signal: AbortSignal): Promise<NodeJS.ReadableStream> {
    return this.output('attachOutput', containerId, signal);
  }

  async followOutput(containerId: string, signal: AbortSignal): Promise<NodeJS.ReadableStream> {
    return this.output('followOutput', containerId, signal);
  }

  /** A terminal that echoes nothing: input is dropped, and the output is what the job prints at its exit. */
  async attachTerminal(containerId: string, signal: AbortSignal): Promise<NodeJS.ReadWriteStream> {
    const output = await this.output('attachTerminal', containerId, signal);
    const terminal = new PassThrough();
    output.on('data', (chunk: Buffer) => terminal.push(chunk));
    output.on('end', () => terminal.push(null));
    terminal._write = (_chunk, _encoding, done) => done();
    return terminal;
  }

  async resizeTerminal(containerId: string): Promise<void> {
    this.record('resizeTerminal', containerId);
  }

  watchExits(_instance: string, onDie: (containerId: string) => void, onError: (error: Error) => void): () => void {
    const watcher = { onDie, onError };
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  async inspectImage(reference: string): Promise<EngineImage | undefined> {
    this.record('inspectImage');
    const name = reference.includes(':') || reference.includes('@') ? reference : `${reference}:latest`;
    return this.images.get(reference) ?? [...this.images.values()].find((image) => image.repoTags.includes(name));
  }

  async buildImage(): Promise<string | undefined> {
    this.record('buildImage');
    return 'the memory engine builds nothing';
  }

  async cgroupDriver(): Promise<string> {
    this.record('cgroupDriver');
    return 'cgroupfs';
  }

  async loadImage(): Promise<{ id: string } | { failure: string }> {
    this.record('loadImage');
    return { failure: 'the memory engine loads nothing' };
  }

  async tagImage(): Promise<void> {
    this.record('tagImage');
  }

  async listImages(): Promise<{ id: string; repoTags: string[] }[]> {
    this.record('listImages');
    return [...this.images.values()].map((image) => ({ id: image.id, repoTags: image.repoTags }));
  }

  async listJobImages(): Promise<{ id: string; jobId: number }[]> {
    this.record('listJobImages');
    return [];
  }

  async removeImage(): Promise<void> {
    this.record('removeImage');
  }

  // ---- inside ----

  /** Record a call (failing it when the engine is away); returns the container it names. */
  private record(method: string, containerId?: string, jobId?: number, refusal?: Error): MemoryContainer | undefined {
    const container = containerId === undefined ? undefined : this.containers.get(containerId);
    const error = this.reachable ? refusal : unreachable();
    const call: EngineCall = { method, ...(containerId ? { containerId } : {}), ...(error ? { failed: true } : {}) };
    const job = jobId ?? container?.jobId;
    if (job !== undefined) call.jobId = job;
    this.calls.push(call);
    this.events.emit('call', call);
    if (error) throw error;
    return container;
  }

  private finish(container: MemoryContainer, exit: ContainerExit, tell: boolean): void {
    container.state = 'exited';
    container.exit = exit;
    container.end();
    if (tell) for (const watcher of this.watchers) watcher.onDie(container.id);
  }

  private runningOf(jobId: number): MemoryContainer | undefined {
    return [...this.containers.values()].find((c) => c.jobId === jobId && c.state === 'running');
  }

  private async output(method: string, containerId: string, signal: AbortSignal): Promise<NodeJS.ReadableStream> {
    const container = this.record(method, containerId);
    if (!container) throw Object.assign(new Error(`No such container: ${containerId}`), { statusCode: 404 });
    const stream = new PassThrough();
    const close = () => {
      if (container.output) stream.write(container.output);
      stream.end();
    };
    void container.ended.then(close);
    signal.addEventListener('abort', () => stream.destroy(), { once: true });
    return stream;
  }

  private async markStarted(at = this.options.now()): Promise<void> {
    this.startedAt = Math.max(at, this.options.now());
    await utimes(this.options.pidfile, this.startedAt / 1000, this.startedAt / 1000);
  }
}

/** What a closed engine socket says. */
function unreachable(): Error {
  return Object.assign(new Error('connect ECONNREFUSED /run/memory-engine.sock'), { code: 'ECONNREFUSED' });
}

/** The GPUs a container was given (gpu_assignment env or device-requests). */
function gpusOf(spec: ContainerSpec): string[] {
  const env = spec.Env.find((entry) => entry.startsWith('NVIDIA_VISIBLE_DEVICES='))?.slice('NVIDIA_VISIBLE_DEVICES='.length);
  const requested = spec.HostConfig.DeviceRequests?.flatMap((request) => request.DeviceIDs) ?? [];
  const fromEnv = env && env !== 'void' && env !== 'none' ? env.split(',') : [];
  return [...new Set([...fromEnv, ...requested])];
}
