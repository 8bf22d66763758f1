// JobSpec + assigned GPUs + config -> the Docker create options. Pure, so the hardening is
// testable without an engine. Nothing here comes from the manifest unchecked.
import type { Config } from '../config/config.js';
import type { JobSpec } from './job.js';
import { readableSize } from '../units.js';

export const LABEL_JOB = 'dopq.job';
export const LABEL_USER = 'dopq.user';
export const LABEL_UID = 'dopq.uid';
export const LABEL_INSTANCE = 'dopq.instance';
/** On a Slurm node: the Slurm job the container belongs to (its epilog removes what is left by it). */
export const LABEL_SLURM_JOB = 'dopq.slurm_job';

export interface ContainerSpec {
  name: string;
  Image: string;
  Cmd?: string[];
  Env: string[];
  User: string;
  WorkingDir?: string;
  Labels: Record<string, string>;
  /** An interactive job's (`dopq shell`): a terminal, stdin kept open for whoever attaches. */
  Tty: boolean;
  AttachStdin: boolean;
  OpenStdin: boolean;
  StdinOnce: false;
  HostConfig: {
    Memory: number;
    MemorySwap: number;
    NanoCpus: number;
    ShmSize: number;
    PidsLimit: number;
    CapDrop: string[];
    SecurityOpt: string[];
    Privileged: false;
    CapAdd: [];
    Devices: [];
    DeviceCgroupRules: [];
    GroupAdd: string[];
    IpcMode: 'private';
    PidMode: '';
    UTSMode: '';
    UsernsMode: '';
    CgroupnsMode: 'private';
    NetworkMode: string;
    Binds: string[];
    DeviceRequests?: { Driver: string; Count: number; DeviceIDs: string[]; Capabilities: string[][]; Options: Record<string, string> }[];
    AutoRemove: false;
    LogConfig: EngineLogConfig;
  };
}

/** The engine's own log of a container: json-file, so `docker logs` and dopq's follow work. */
export interface EngineLogConfig {
  Type: 'json-file';
  Config: { 'max-size': string; 'max-file': string };
}

/** Files the engine keeps per container: the current one and one rotated away. */
export const ENGINE_LOG_FILES = 2;

// The engine writes every byte a job prints to its own file whatever dopq keeps: bounded here to
// about twice the spool's cap (plus json-file's framing), the tail of it left for `docker logs`.
export function engineLogConfig(logSize: number): EngineLogConfig {
  return { Type: 'json-file', Config: { 'max-size': String(Math.max(1024, Math.floor(logSize))), 'max-file': String(ENGINE_LOG_FILES) } };
}

/** The line that ends a job's saved output once it reached limits.log_size. */
export function outputCutMarker(logSize: number): string {
  return `dopq: output cut at ${readableSize(logSize)} (limits.log_size); the job goes on\n`;
}

/** The name dopq gives a job's container: its identity for reconcile (never its labels). */
export function containerName(instance: string, jobId: number): string {
  return `${containerNamePrefix(instance)}${jobId}`;
}

export function containerNamePrefix(instance: string): string {
  return `dopq-${instance}-`;
}

/** What the daemon resolved on the host for this start. */
export interface HostSide {
  /** The owner's primary group, from the user database (never from the manifest). */
  gid: number;
  /** The owner's groups that the config's `container_groups` names, as gids. */
  groups: readonly number[];
  /** Bind mounts after realpath and the allowed-roots check, the output folder included. */
  binds: readonly string[];
}

/**
 * The container runs as the submitting user, so files it writes to mounted folders belong to
 * them. Every hardening field is set explicitly, so an engine's defaults (daemon.json) or a
 * future manifest field cannot loosen it.
 */
export function containerSpec(
  job: JobSpec,
  gpus: readonly string[],
  config: Config,
  instance: string,
  host: HostSide,
  /** More labels (a Slurm job's `dopq.slurm_job`); never one of dopq's own above. */
  labels: Readonly<Record<string, string>> = {},
): ContainerSpec {
  const { gid, groups, binds } = host;
  const m = job.manifest;
  const env = Object.entries(m.env).map(([key, value]) => `${key}=${value}`);
  env.push(`DOPQ_JOB_ID=${job.id}`, `DOPQ_GPUS=${gpus.join(',')}`);
  if (job.array) env.push(`DOPQ_ARRAY_ID=${job.array.id}`, `DOPQ_ARRAY_INDEX=${job.array.index}`, `DOPQ_ARRAY_SIZE=${job.array.size}`);
  // No job reaches a GPU it was not given, whatever the engine's default runtime: CUDA images
  // default NVIDIA_VISIBLE_DEVICES to all. CUDA_VISIBLE_DEVICES is left alone on purpose: inside
  // the container GPUs are renumbered from 0, so host indices would point at the wrong ones.
  if (gpus.length === 0) env.push('NVIDIA_VISIBLE_DEVICES=void');
  else if (config.gpu_assignment === 'env') env.push(`NVIDIA_VISIBLE_DEVICES=${gpus.join(',')}`);

  const deviceRequests =
    config.gpu_assignment === 'device-requests' && gpus.length > 0
      ? [{ Driver: 'nvidia', Count: 0, DeviceIDs: [...gpus], Capabilities: [['gpu']], Options: {} }]
      : undefined;

  return {
    name: containerName(instance, job.id),
    Image: job.image,
    ...(m.command ? { Cmd: m.command } : {}),
    Env: env,
    User: `${job.uid}:${gid}`,
    ...(m.workdir ? { WorkingDir: m.workdir } : {}),
    Labels: { ...labels, [LABEL_JOB]: String(job.id), [LABEL_USER]: job.user, [LABEL_UID]: String(job.uid), [LABEL_INSTANCE]: instance },
    // Only the daemon attaches (sessions.ts); a client that leaves never closes the program's stdin.
    Tty: m.interactive,
    AttachStdin: m.interactive,
    OpenStdin: m.interactive,
    StdinOnce: false,
    HostConfig: {
      Memory: m.memory,
      MemorySwap: m.memory,
      NanoCpus: Math.round(m.cpus * 1e9),
      ShmSize: m.shm,
      PidsLimit: config.limits.pids,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Privileged: false,
      CapAdd: [],
      Devices: [],
      DeviceCgroupRules: [],
      GroupAdd: groups.map(String),
      IpcMode: 'private',
      PidMode: '',
      UTSMode: '',
      UsernsMode: '',
      CgroupnsMode: 'private',
      NetworkMode: m.network,
      Binds: [...binds],
      ...(deviceRequests ? { DeviceRequests: deviceRequests } : {}),
      AutoRemove: false,
      LogConfig: engineLogConfig(config.limits.log_size),
    },
  };
}
