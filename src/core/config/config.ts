// The static config (etc/dopq.yaml): schema, defaults, and the pure parse from YAML text.
import path from 'node:path';
import * as z from 'zod';
import { InvalidDocumentError, type Issue } from '../errors.js';
import { PRINCIPAL } from '../permissions.js';
import { POLICIES, type PolicyName } from '../schedule/policy.js';
import { checkSchema } from '../document/schema-issues.js';
import { cpusSchema, sizeSchema } from '../document/resource-units.js';
import { absolutePathSchema } from '../document/fields.js';
import { parseDuration, parseSize } from '../units.js';
import { readYaml } from '../document/yaml-source.js';
import type { IdleRule } from '../job/usage.js';
import { SYSTEM_SPOOL, spoolLocationIssue } from './spool-location.js';
import { notifyConfigSchema, type NotifyConfig } from '../notify/notify-spec.js';

export type GpuAssignment = 'device-requests' | 'env';

/** `docker`: this host runs the jobs, dopq places and orders them. `slurm`: Slurm places and orders them on its nodes. */
export type Backend = 'docker' | 'slurm';

/** `slurm:`, read when `backend: slurm` (null: Slurm's own default, e.g. the default partition). */
export interface SlurmConfig {
  partition: string | null;
  account: string | null;
  /** Folder of sbatch, squeue, sacct, scontrol, scancel, sinfo, sshare, sacctmgr; null: found on PATH. */
  bin: string | null;
  /** Seconds before the time limit that Slurm sends the job SIGTERM (`--signal=B:TERM@<s>`), so its container stops cleanly. */
  term_grace: number;
  /** The words the batch script runs `node-run` with, as root (null: `sudo -n -- dopq`). */
  helper: string[] | null;
}

export interface ResourceSet {
  gpus: number;
  memory: number; // bytes
  cpus: number;
  shm: number; // bytes
  time_limit: number; // seconds
}

export interface PerUserLimits {
  /** GPUs one user may hold at once. */
  gpus: number | null;
  /** Jobs one user may have waiting at once. */
  queued: number | null;
  /** Files one user may have in intake/ and requests/ together, counted by owner before any is read. */
  waiting_files: number;
  /** Rejected records kept per user; past it the oldest go first. */
  rejected: number;
  /** Builds (and archive loads) one user may have running at once. */
  builds: number;
}

/** The CPUs and memory (bytes) jobs can have on this host, and whose figures they are (for messages). */
export interface HostFigures {
  cpus: number;
  memory: number;
  /** e.g. "the engine's" or "this host's": who counted them. */
  source: string;
}

export interface Config {
  /** Absolute path of the file this came from (for messages and relative paths). */
  file: string;
  spool: string;
  backend: Backend;
  slurm: SlurmConfig;
  /** The engine's socket, and its pid file: its mtime is when the engine started (restarts show). */
  docker: { socket: string; pidfile: string };
  gpus: 'auto' | string[];
  gpu_assignment: GpuAssignment;
  nvidia_smi: string;
  policy: PolicyName;
  penalty: { half_life: number; running_weight: number; classic_history: number };
  /** Per user name or `%group`; everyone else has share 1. */
  shares: Record<string, number>;
  /** Who may submit (users and `%groups`); null: everyone. */
  submitters: string[] | null;
  admins: string[];
  defaults: ResourceSet;
  /**
   * `log_size`: bytes of a job's output saved in the spool; the rest is drained unsaved.
   * `log_min_free`: below this much free on the spool's disk, job output is drained unsaved.
   * `state_size`: the largest state.json; above it new job files wait in the intake.
   */
  limits: ResourceSet & {
    manifest_bytes: number;
    pids: number;
    log_size: number;
    log_min_free: number;
    state_size: number;
    per_user: PerUserLimits;
  };
  mounts: {
    allowed_roots: string[];
    /** DoPQ's /outdir/<user>: a folder per user, made and bound read-write into every job. */
    output: { host: string; container: string } | null;
  };
  /** Image references a job may use (`*` matches any run of characters); null: any. */
  images: { allowed: string[] | null };
  /** Groups a container may keep when its owner is a member (files shared by group). */
  container_groups: string[];
  /** Jobs that bring a build context: what push may pack. */
  /** `log_size`: bytes of a build's output kept in the job's log; the rest is counted, not kept. */
  builds: {
    context_size: number;
    context_files: number;
    archive_size: number;
    min_free: number;
    parallel: number;
    deadline: number;
    log_size: number;
    keep_images: { per_user: number; max_age: number };
  };
  network: { default: string; allowed: string[] };
  stop_grace: number;
  /** Seconds a finished job's container is kept (for docker inspect/logs) before removal. */
  keep_containers: number;
  rescan_interval: number;
  reconcile_interval: number;
  gpu_poll_interval: number;
  /** Seconds between usage samples of running jobs; 0: no sampling (and no idle rule). */
  telemetry: { interval: number };
  /** When a job's GPUs count as idle, and what then happens (see core/job/usage.ts). */
  idle: IdleRule;
  history: { keep: number };
  /** `/metrics` in Prometheus' format: where the daemon serves it (null: not served) and as which unprivileged user (null: `dopq` if that user exists, else `nobody`). */
  metrics: { listen: { host: string; port: number } | null; user: string | null };
  /** The web dashboard (`dopq web`): where the daemon serves it (null: not served) and as which unprivileged user, as for metrics. */
  web: { listen: { host: string; port: number } | null; user: string | null };
  /** Starts that fail for the engine's or host's fault, in a row, before a job is held. */
  start_retries: number;
  /** Queue a job again when an engine restart killed its container (else it fails, engine-restart). */
  requeue_on_engine_restart: boolean;
  /** `dopq shell`: the image it runs without --image (null: --image is required). */
  interactive: { image: string | null };
  /** `notify.*`: channels allowed, how mail goes out, timeouts and retries of job notifications. */
  notify: NotifyConfig;
  /** The CPU and memory defaults and limits the file sets itself (`defaults.cpus` -> its line); the rest are built in. */
  resources_set: Record<string, number | undefined>;
  /** This host's figures once fit-host.ts checked the config against them: no job may ask for more. */
  host?: HostFigures;
}

const size = (what: string) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    const bytes = parseSize(value);
    if (bytes === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a size such as 512m or 32g for ${what}` });
      return z.NEVER;
    }
    return bytes;
  });

/** Where a serving child (/metrics, the web dashboard) listens, `host:port`, and as which unprivileged user. */
function servingSchema(example: string) {
  return z
    .strictObject({
      listen: z
        .string({ error: `expected host:port, e.g. ${example}` })
        .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, {
          error: `expected host:port, e.g. ${example} or [::1]:${example.split(':')[1]}`,
        })
        .refine((text) => Number(text.slice(text.lastIndexOf(':') + 1)) <= 65535, { error: 'port above 65535' })
        .nullable()
        .default(null),
      user: z.string({ error: 'expected a user name' }).min(1).optional(),
    })
    .default({ listen: null });
}

export const durationSchema = (what: string) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    const seconds = parseDuration(value);
    if (seconds === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a duration such as 90m, 48h or 7d for ${what}` });
      return z.NEVER;
    }
    return seconds;
  });

const positive = (what: string) => z.number({ error: `expected a number of ${what}` }).positive({ error: `${what} must be more than 0` });
const wholeCount = (what: string) =>
  z
    .number({ error: `expected a whole number of ${what}` })
    .int({ error: `expected a whole number of ${what}` })
    .min(0, { error: `${what} cannot be negative` });

/** In `mounts.output.host`, replaced by the job owner's login name. */
export const USER_PLACEHOLDER = '{user}';
const GROUP_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
// Membership in these is root on a Debian host (the socket, raw disks, sudo, the password hashes).
const ROOT_GROUPS = ['root', 'docker', 'disk', 'sudo', 'wheel', 'shadow', 'adm', 'kmem'];

const principal = z.string({ error: 'expected a user name or %group' }).regex(PRINCIPAL, { error: 'expected a user name or %group' });

const resources = z.strictObject({
  gpus: wholeCount('GPUs').optional(),
  // A default or limit the engine would read as "unlimited" (or refuse) is a config error.
  memory: sizeSchema('memory').optional(),
  cpus: cpusSchema.optional(),
  shm: sizeSchema('shm').optional(),
  time_limit: durationSchema('time_limit').optional(),
});

// Slurm's names of partitions and accounts (letters, digits, _ . -): never a shell word or an option.
const SLURM_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const slurmName = (what: string) => z.string({ error: `expected a ${what} name` }).regex(SLURM_NAME, { error: `expected a ${what} name` });

const configSchema = z.strictObject({
  backend: z.enum(['docker', 'slurm'], { error: 'expected docker or slurm' }).default('docker'),
  slurm: z
    .strictObject({
      partition: slurmName('Slurm partition').optional(),
      account: slurmName('Slurm account').optional(),
      bin: absolutePathSchema("the folder of Slurm's commands").optional(),
      term_grace: durationSchema('slurm.term_grace').default(60),
      helper: z
        .array(
          z
            .string()
            .min(1)
            .refine((word) => !word.includes('\0')),
          { error: 'expected a list of words, e.g. [/usr/bin/sudo, -n, --, dopq]' },
        )
        .min(1, { error: 'expected at least one word' })
        .optional(),
    })
    .default({ term_grace: 60 }),
  // Without `spool`, where an installed server keeps it (relative paths are the config's folder's).
  spool: z.string({ error: 'expected a folder path' }).default(SYSTEM_SPOOL),
  docker: z
    .strictObject({
      socket: absolutePathSchema('the Docker socket').default('/var/run/docker.sock'),
      pidfile: absolutePathSchema("the Docker engine's pid file").default('/var/run/docker.pid'),
    })
    .default({ socket: '/var/run/docker.sock', pidfile: '/var/run/docker.pid' }),
  gpus: z
    .union([z.literal('auto'), z.array(z.union([z.string().min(1), z.number().int().min(0)]))], {
      error: 'expected "auto" or a list of GPU indices or UUIDs',
    })
    .default('auto'),
  gpu_assignment: z.enum(['device-requests', 'env'], { error: 'expected device-requests or env' }).default('device-requests'),
  nvidia_smi: z.string().default('nvidia-smi'),
  policy: z.enum(POLICIES, { error: `expected one of ${POLICIES.join(', ')}` }).default('fairshare'),
  penalty: z
    .strictObject({
      half_life: durationSchema('half_life').default(7 * 86400),
      running_weight: durationSchema('running_weight').default(3600),
      classic_history: wholeCount('finished jobs').default(100),
    })
    .default({ half_life: 7 * 86400, running_weight: 3600, classic_history: 100 }),
  shares: z.record(principal, positive('shares')).default({}),
  submitters: z.array(principal).optional(),
  admins: z.array(principal).default([]),
  defaults: resources.default({}),
  limits: resources
    .extend({
      manifest_size: size('manifest_size').optional(),
      pids: wholeCount('processes').optional(),
      // The engine refuses a json-file max-size of 0; below 1k nothing useful would be kept.
      log_size: size('limits.log_size')
        .refine((bytes) => bytes >= 1024, { error: 'limits.log_size must be at least 1k' })
        .optional(),
      log_min_free: size('limits.log_min_free').optional(),
      state_size: size('limits.state_size')
        .refine((bytes) => bytes >= 1024 ** 2, { error: 'limits.state_size must be at least 1m' })
        .optional(),
      per_user: z
        .strictObject({
          gpus: wholeCount('GPUs').optional(),
          queued: wholeCount('jobs').optional(),
          waiting_files: wholeCount('files').min(1, { error: 'at least 1 file' }).optional(),
          rejected: wholeCount('rejected records').min(1, { error: 'at least 1 record' }).optional(),
          builds: wholeCount('builds').min(1, { error: 'at least 1 build' }).optional(),
        })
        .default({}),
    })
    .default({ per_user: {} }),
  mounts: z
    .strictObject({
      allowed_roots: z.array(absolutePathSchema('a mount root')).default([]),
      output: z
        .strictObject({
          host: absolutePathSchema('the output folder template').refine(
            (p) => p.includes(USER_PLACEHOLDER) && !path.posix.dirname(p).includes(USER_PLACEHOLDER),
            {
              error: `expected an absolute path whose last part holds ${USER_PLACEHOLDER}, e.g. /srv/dopq/out/${USER_PLACEHOLDER}`,
            },
          ),
          container: absolutePathSchema('where jobs see their output folder').default('/outdir'),
        })
        .optional(),
    })
    .default({ allowed_roots: [] }),
  images: z
    .strictObject({
      allowed: z.array(z.string().min(1), { error: 'expected a list of image patterns such as pytorch/pytorch:*' }).optional(),
    })
    .default({}),
  builds: z
    .strictObject({
      context_size: size('builds.context_size').default(256 * 1024 ** 2),
      context_files: wholeCount('files').default(10_000),
      archive_size: size('builds.archive_size').default(20 * 1024 ** 3),
      min_free: size('builds.min_free').default(10 * 1024 ** 3),
      parallel: wholeCount('builds').min(1, { error: 'at least 1 build at a time' }).default(2),
      deadline: durationSchema('builds.deadline').default(3600),
      log_size: size('builds.log_size')
        .refine((bytes) => bytes >= 1024, { error: 'builds.log_size must be at least 1k' })
        .default(10 * 1024 ** 2),
      keep_images: z
        .strictObject({
          per_user: wholeCount('images').default(3),
          max_age: durationSchema('builds.keep_images.max_age').default(7 * 86400),
        })
        .default({ per_user: 3, max_age: 7 * 86400 }),
    })
    .default({
      context_size: 256 * 1024 ** 2,
      context_files: 10_000,
      archive_size: 20 * 1024 ** 3,
      min_free: 10 * 1024 ** 3,
      parallel: 2,
      deadline: 3600,
      log_size: 10 * 1024 ** 2,
      keep_images: { per_user: 3, max_age: 7 * 86400 },
    }),
  container_groups: z
    .array(
      z
        .string()
        .regex(GROUP_NAME, { error: 'expected a group name' })
        .refine((name) => !ROOT_GROUPS.includes(name), {
          error: `groups that grant root on the host are never given to jobs (${ROOT_GROUPS.join(', ')})`,
        }),
      { error: 'expected a list of group names' },
    )
    .default([]),
  network: z
    .strictObject({
      default: z.string().default('none'),
      // container:<id> would join another job's network namespace (maybe another user's).
      allowed: z
        .array(
          z
            .string()
            .regex(/^(?!container:)[A-Za-z0-9][A-Za-z0-9_.-]*$/, { error: 'expected a network name (container:... is never allowed)' }),
        )
        .default(['none']),
    })
    .default({ default: 'none', allowed: ['none'] }),
  stop_grace: durationSchema('stop_grace').default(10),
  keep_containers: durationSchema('keep_containers').default(0),
  rescan_interval: durationSchema('rescan_interval').default(2),
  reconcile_interval: durationSchema('reconcile_interval').default(10),
  gpu_poll_interval: durationSchema('gpu_poll_interval').default(10),
  telemetry: z.strictObject({ interval: durationSchema('telemetry.interval').default(10) }).default({ interval: 10 }),
  idle: z
    .strictObject({
      threshold: z.number({ error: 'expected a percent such as 5' }).min(0).max(100).default(5),
      after: durationSchema('idle.after').default(1800),
      action: z.enum(['flag', 'cancel'], { error: 'expected flag or cancel' }).default('flag'),
      cancel_after: durationSchema('idle.cancel_after').default(7200),
    })
    .default({ threshold: 5, after: 1800, action: 'flag', cancel_after: 7200 }),
  history: z.strictObject({ keep: durationSchema('history.keep').default(30 * 86400) }).default({ keep: 30 * 86400 }),
  metrics: servingSchema('127.0.0.1:9464'),
  web: servingSchema('127.0.0.1:8080'),
  start_retries: wholeCount('start retries').min(1, { error: 'at least 1' }).default(3),
  requeue_on_engine_restart: z.boolean({ error: 'expected true or false' }).default(true),
  interactive: z.strictObject({ image: z.string({ error: 'expected an image name such as ubuntu:24.04' }).min(1).optional() }).default({}),
  notify: notifyConfigSchema,
});

const BUILTIN_DEFAULTS: ResourceSet = { gpus: 1, memory: 8 * 1024 ** 3, cpus: 4, shm: 64 * 1024 ** 2, time_limit: 24 * 3600 };
const BUILTIN_LIMITS = {
  gpus: 8,
  memory: 256 * 1024 ** 3,
  cpus: 64,
  shm: 64 * 1024 ** 3,
  time_limit: 7 * 86400,
  manifest_bytes: 64 * 1024,
  pids: 4096,
};

/** Parse config text. `file` must be absolute; the spool is resolved relative to its folder. */
export function parseConfig(text: string, file: string): Config {
  const yaml = readYaml(text);
  if (!yaml.ok) throw new InvalidDocumentError('config', file, yaml.issues);
  const parsed = checkSchema(configSchema, yaml.source, yaml.source.value ?? {});
  if (!parsed.ok) throw new InvalidDocumentError('config', file, parsed.issues);
  const raw = parsed.value;
  // Every command refuses it, so that neither `init` nor `run` ever creates a queue in /etc.
  const misplaced = spoolLocationIssue(path.resolve(path.dirname(file), raw.spool), text);
  if (misplaced) throw new InvalidDocumentError('config', file, [misplaced]);
  const limits = {
    gpus: raw.limits.gpus ?? BUILTIN_LIMITS.gpus,
    memory: raw.limits.memory ?? BUILTIN_LIMITS.memory,
    cpus: raw.limits.cpus ?? BUILTIN_LIMITS.cpus,
    shm: raw.limits.shm ?? BUILTIN_LIMITS.shm,
    time_limit: raw.limits.time_limit ?? BUILTIN_LIMITS.time_limit,
    manifest_bytes: raw.limits.manifest_size ?? BUILTIN_LIMITS.manifest_bytes,
    pids: raw.limits.pids ?? BUILTIN_LIMITS.pids,
    log_size: raw.limits.log_size ?? 100 * 1024 ** 2,
    log_min_free: raw.limits.log_min_free ?? 1024 ** 3,
    state_size: raw.limits.state_size ?? 64 * 1024 ** 2,
    per_user: {
      gpus: raw.limits.per_user.gpus ?? null,
      queued: raw.limits.per_user.queued ?? null,
      waiting_files: raw.limits.per_user.waiting_files ?? 1000,
      rejected: raw.limits.per_user.rejected ?? 100,
      builds: raw.limits.per_user.builds ?? 1,
    },
  };
  const defaults: ResourceSet = {
    gpus: raw.defaults.gpus ?? BUILTIN_DEFAULTS.gpus,
    memory: raw.defaults.memory ?? Math.min(BUILTIN_DEFAULTS.memory, limits.memory),
    cpus: raw.defaults.cpus ?? Math.min(BUILTIN_DEFAULTS.cpus, limits.cpus),
    shm: raw.defaults.shm ?? Math.min(BUILTIN_DEFAULTS.shm, limits.shm),
    time_limit: raw.defaults.time_limit ?? Math.min(BUILTIN_DEFAULTS.time_limit, limits.time_limit),
  };
  const issues: Issue[] = [];
  for (const key of Object.keys(defaults) as (keyof ResourceSet)[]) {
    if (defaults[key] > limits[key]) {
      issues.push({ path: `defaults.${key}`, line: yaml.source.lineOf(['defaults', key]), message: `default is above limits.${key}` });
    }
  }
  if (!raw.network.allowed.includes(raw.network.default)) {
    issues.push({ path: 'network.default', line: yaml.source.lineOf(['network', 'default']), message: 'must be one of network.allowed' });
  }
  const gpuIds = raw.gpus === 'auto' ? 'auto' : raw.gpus.map(String);
  if (gpuIds !== 'auto' && new Set(gpuIds).size !== gpuIds.length) {
    issues.push({ path: 'gpus', line: yaml.source.lineOf(['gpus']), message: 'a GPU is listed twice' });
  }
  if (limits.per_user.gpus !== null && defaults.gpus > limits.per_user.gpus) {
    issues.push({
      path: 'limits.per_user.gpus',
      line: yaml.source.lineOf(['limits', 'per_user', 'gpus']),
      message: `is below defaults.gpus (${defaults.gpus})`,
    });
  }
  if (issues.length > 0) throw new InvalidDocumentError('config', file, issues);
  const resourcesSet: Record<string, number | undefined> = {};
  for (const section of ['defaults', 'limits'] as const) {
    for (const key of ['cpus', 'memory'] as const) {
      if (raw[section][key] !== undefined) resourcesSet[`${section}.${key}`] = yaml.source.lineOf([section, key]);
    }
  }

  return {
    file,
    spool: path.resolve(path.dirname(file), raw.spool),
    backend: raw.backend,
    slurm: {
      partition: raw.slurm.partition ?? null,
      account: raw.slurm.account ?? null,
      bin: raw.slurm.bin ?? null,
      term_grace: raw.slurm.term_grace,
      helper: raw.slurm.helper ?? null,
    },
    docker: raw.docker,
    gpus: gpuIds,
    gpu_assignment: raw.gpu_assignment,
    nvidia_smi: raw.nvidia_smi,
    policy: raw.policy,
    penalty: raw.penalty,
    shares: raw.shares,
    submitters: raw.submitters ?? null,
    admins: raw.admins,
    defaults,
    limits,
    mounts: {
      allowed_roots: raw.mounts.allowed_roots.map((root) => path.posix.normalize(root)),
      output: raw.mounts.output
        ? { host: path.posix.normalize(raw.mounts.output.host), container: path.posix.normalize(raw.mounts.output.container) }
        : null,
    },
    images: { allowed: raw.images.allowed ?? null },
    container_groups: raw.container_groups,
    builds: raw.builds,
    network: raw.network,
    stop_grace: raw.stop_grace,
    keep_containers: raw.keep_containers,
    rescan_interval: raw.rescan_interval,
    reconcile_interval: raw.reconcile_interval,
    gpu_poll_interval: raw.gpu_poll_interval,
    telemetry: raw.telemetry,
    idle: raw.idle,
    history: raw.history,
    metrics: servingConfig(raw.metrics),
    web: servingConfig(raw.web),
    start_retries: raw.start_retries,
    requeue_on_engine_restart: raw.requeue_on_engine_restart,
    interactive: { image: raw.interactive.image ?? null },
    notify: raw.notify,
    resources_set: resourcesSet,
  };
}

function servingConfig(raw: { listen: string | null; user?: string | undefined }): {
  listen: { host: string; port: number } | null;
  user: string | null;
} {
  return { listen: raw.listen === null ? null : splitListen(raw.listen), user: raw.user ?? null };
}

/** `host:port` (`[::1]:9464` for IPv6) as its parts. */
function splitListen(text: string): { host: string; port: number } {
  const at = text.lastIndexOf(':');
  return { host: text.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(text.slice(at + 1)) };
}

/** Every key the config accepts, dotted (`limits.per_user.gpus`): what dopq.yaml(5) must document. */
export function configKeys(): string[] {
  const walk = (schema: z.ZodType, prefix: string): string[] => {
    let node = schema as z.ZodType & { def: { type: string; innerType?: z.ZodType; in?: z.ZodType } };
    for (;;) {
      const { type } = node.def;
      if ((type === 'default' || type === 'optional' || type === 'nullable' || type === 'prefault') && node.def.innerType)
        node = node.def.innerType as typeof node;
      else if (type === 'pipe' && node.def.in) node = node.def.in as typeof node;
      else break;
    }
    if (node.def.type === 'object')
      return Object.entries((node as unknown as z.ZodObject).shape).flatMap(([key, value]) =>
        walk(value as z.ZodType, prefix ? `${prefix}.${key}` : key),
      );
    return [prefix];
  };
  return walk(configSchema, '');
}
