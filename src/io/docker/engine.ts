// What the daemon asks of a container engine: the interface alone, so the daemon's loop can be
// driven by the real engine (docker.ts) or by an engine in memory in tests.
import type { ContainerSpec } from '../../core/job/container-spec.js';
import type { ContainerExit } from '../../core/job/job.js';

export interface JobContainer {
  id: string;
  jobId: number;
  running: boolean;
  /** Created but never started (a daemon stopped between the two). */
  created: boolean;
}

export interface BuildOptions {
  tag: string;
  dockerfile: string;
  args: Record<string, string>;
  /** Limits of the build's containers: the job's own. */
  memory: number;
  cpus: number;
  /** The job's /dev/shm size; without it the engine's default (64m). */
  shm?: number;
  /**
   * RLIMIT_NPROC of RUN steps (limits.pids). The kernel counts it per host uid and never
   * applies it to root: it bounds steps after a `USER` line, not the root ones (dopq.yaml(5)).
   */
  pids?: number;
  /** The cgroup the build's containers go under (build-cgroup.ts): its pids.max binds root too. */
  cgroupParent?: string;
  /**
   * The only images whose layers the build may reuse: the owner's own. Without it the legacy
   * builder reuses any local image's steps, so a step another user ran (fetching data, making a
   * key) would come back with their output.
   */
  cacheFrom: string[];
}

/** What the engine says about an image: its ID, names, layers and ONBUILD triggers. */
export interface EngineImage {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  layers: string[];
  parent: string;
  onBuild: string[];
}

/** An image dopq built or loaded for a job. */
export interface JobImage {
  /** Its job tag. */
  id: string;
  jobId: number;
}

export interface DockerEngine {
  ping(): Promise<void>;
  /** Create the job's container (not started), replacing a stopped one of its earlier tries. */
  create(spec: ContainerSpec): Promise<string>;
  /**
   * Start a created container; on a failure the error is thrown and the container removed,
   * unless `keepOnFailure` (keep_containers: left for docker inspect, removed later).
   */
  startCreated(containerId: string, keepOnFailure?: boolean): Promise<void>;
  list(instance: string): Promise<JobContainer[]>;
  exitOf(containerId: string): Promise<ContainerExit | undefined>;
  stop(containerId: string, graceSeconds: number): Promise<void>;
  remove(containerId: string): Promise<void>;
  /**
   * Build `tar` (a context) into `tag`, without network, writing Docker's output to `onOutput`.
   * Resolves with the error Docker reported, if any: a failed build still "finishes".
   */
  buildImage(tar: string, options: BuildOptions, onOutput: (text: string) => void, signal: AbortSignal): Promise<string | undefined>;
  /** The engine's cgroup driver (`cgroupfs`, `systemd`): what a build's cgroup parent must look like. */
  cgroupDriver(): Promise<string>;
  /**
   * Load an image archive (already cleaned of every tag: image-archive.ts). Resolves with the
   * loaded image ID, or the error Docker reported.
   */
  loadImage(
    archive: NodeJS.ReadableStream,
    onOutput: (text: string) => void,
    signal: AbortSignal,
  ): Promise<{ id: string } | { failure: string }>;
  /** Resolve a name (or ID, short ID, digest) as the engine does; undefined when it has no such image. */
  inspectImage(reference: string): Promise<EngineImage | undefined>;
  tagImage(id: string, tag: string): Promise<void>;
  /** Every image with its tags (untagged ones too), for finding what an archive is built on. */
  listImages(): Promise<{ id: string; repoTags: string[] }[]>;
  /** Images this spool built or loaded for jobs. */
  listJobImages(instance: string): Promise<JobImage[]>;
  /** Remove an image; one still in use (or gone) is left alone. */
  removeImage(id: string): Promise<void>;
  /**
   * The output (stdout and stderr, in order) of a created container not yet started, from its
   * first byte: resolves once attached, so a start after it loses nothing. The stream ends when
   * the container does; while attached the job's writes wait on this stream being read.
   * `tty`: the container has a terminal (interactive), so its output is one raw stream.
   */
  attachOutput(containerId: string, signal: AbortSignal, tty?: boolean): Promise<NodeJS.ReadableStream>;
  /**
   * A running container's output as the engine logged it (what its log rotated away is gone),
   * then followed until the container ends. For containers started before this daemon.
   */
  followOutput(containerId: string, signal: AbortSignal, tty?: boolean): Promise<NodeJS.ReadableStream>;
  /**
   * An interactive job's terminal (created or running): what is written goes to the program's
   * stdin, what is read is its output. Ends when the program does; must be read all along.
   */
  attachTerminal(containerId: string, signal: AbortSignal): Promise<NodeJS.ReadWriteStream>;
  resizeTerminal(containerId: string, columns: number, rows: number): Promise<void>;
  /** Calls `onDie` with container ids of this instance that exited; reconnects until stopped. */
  watchExits(instance: string, onDie: (containerId: string) => void, onError: (error: Error) => void): () => void;
}
