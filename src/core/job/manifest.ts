// A job manifest: YAML text -> a validated Manifest, or every problem with its field and line.
// Defaults and maxima come from the config; nothing here trusts who the manifest says it is from.
import path from 'node:path';
import * as z from 'zod';
import type { Config } from '../config/config.js';
import { hostAmount } from '../config/fit-host.js';
import type { Issue } from '../errors.js';
import { claimedJobOwner, namesForeignJobImage } from './image-names.js';
import { checkSchema } from '../document/schema-issues.js';
import { cpusSchema, sizeSchema } from '../document/resource-units.js';
import { absolutePathSchema, isAbsoluteWithoutDotDot } from '../document/fields.js';
import { formatSize, parseDuration } from '../units.js';
import { formatPath, readYaml, type YamlSource } from '../document/yaml-source.js';
import { parseArraySpec, type ArraySpec } from './array-spec.js';
import { isJobId, MAX_JOB_ID } from './envelope.js';
import { disallowedChannels, notifySchema, notifySpecOf, type NotifySpec } from '../notify/notify-spec.js';

export interface Mount {
  src: string;
  dst: string;
  readOnly: boolean;
}

/** `build:`: a Docker build of a folder next to the manifest, packed by push at push time. */
export interface BuildSpec {
  /** The context folder, relative to the manifest (push resolves it; the daemon never reads it). */
  context: string;
  /** Dockerfile path inside the context. */
  dockerfile: string;
  args: Record<string, string>;
}

export interface Manifest {
  name: string;
  /** The image to run; null when the job brings its own (`build` or `image_archive`). */
  image: string | null;
  build?: BuildSpec;
  /** A `docker save` tar, relative to the manifest (DoPQ's load.suffix). */
  image_archive?: string;
  /** Exec form; a string command becomes `/bin/sh -c <string>`. Undefined runs the image's CMD. */
  command?: string[];
  gpus: number;
  memory: number;
  cpus: number;
  shm: number;
  env: Record<string, string>;
  workdir?: string;
  mounts: Mount[];
  time_limit: number;
  network: string;
  /** Run it again when an engine restart kills it (default); false: it fails (engine-restart). */
  requeue: boolean;
  /** `array:`: one job per index (array-spec.ts). */
  array?: ArraySpec;
  /** Start only after all these jobs ended `done`; one that ends otherwise cancels this one. */
  after: number[];
  /** Start only after all these jobs ended, whatever the outcome. */
  after_any: number[];
  /** A terminal and open stdin (`dopq shell`), reached with `dopq attach`. */
  interactive: boolean;
  /** `notify:`: events sent to the owner's webhook, e-mail or command (notify-spec.ts). */
  notify?: NotifySpec;
}

export type ManifestResult = { ok: true; manifest: Manifest } | { ok: false; issues: Issue[] };

/** A job's name, as a manifest may give it (the daemon and `dopq q` read it the same way). */
export const JOB_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
// A Docker reference: [registry[:port]/]path[:tag][@digest]; printable, so it is safe in tables.
const IMAGE_REF =
  /^[A-Za-z0-9][A-Za-z0-9._-]*(?::[0-9]+)?(?:\/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@[a-z0-9]+:[a-f0-9]{32,})?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Set by dopq itself, or (NVIDIA_*, CUDA_VISIBLE_DEVICES) a way to reach GPUs the job was not given.
const RESERVED_ENV = /^(NVIDIA_|DOPQ_)|^CUDA_VISIBLE_DEVICES$/;

/** A path on the user's side, relative to the manifest's folder. */
const relative = (what: string) =>
  z
    .string({ error: `expected a path relative to the manifest for ${what}` })
    .min(1, { error: `expected a path relative to the manifest for ${what}` })
    .refine((p) => !path.posix.isAbsolute(p), {
      error: `expected a path relative to the manifest for ${what}, not an absolute one`,
    });

/** A path inside a folder: relative, and never leaving it. */
const insideRelative = (what: string) =>
  z
    .string({ error: `expected a path inside the context for ${what}` })
    .refine((p) => p !== '' && !path.posix.isAbsolute(p) && !p.split('/').includes('..'), {
      error: `expected a path inside the context for ${what} (relative, without ..)`,
    });

const mountSchema = z.string({ error: 'expected src:dst or src:dst:ro' }).transform((text, ctx): Mount => {
  const parts = text.split(':');
  const mode = parts.length === 3 ? parts[2] : 'rw';
  if (parts.length < 2 || parts.length > 3 || (mode !== 'ro' && mode !== 'rw')) {
    ctx.addIssue({ code: 'custom', message: `expected src:dst or src:dst:ro, got ${JSON.stringify(text)}` });
    return z.NEVER;
  }
  const [src = '', dst = ''] = parts;
  for (const [label, p] of [
    ['source', src],
    ['destination', dst],
  ] as const) {
    if (!isAbsoluteWithoutDotDot(p)) {
      ctx.addIssue({ code: 'custom', message: `the ${label} ${JSON.stringify(p)} must be an absolute path without ..` });
      return z.NEVER;
    }
  }
  return { src: path.posix.normalize(src), dst: path.posix.normalize(dst), readOnly: mode === 'ro' };
});

/** Job ids: a list, one id, or a comma-separated string (`12,14`), as `--after` takes them. */
const jobIdsSchema = z
  .union([z.number(), z.string(), z.array(z.unknown())], { error: 'expected a job id or a list of job ids' })
  .transform((value, ctx): number[] => {
    // An empty list, like an empty string, is no dependency.
    const items = Array.isArray(value)
      ? value
      : typeof value === 'number'
        ? [value]
        : value
            .split(',')
            .map((part) => part.trim())
            .filter((part) => part !== '');
    const ids: number[] = [];
    for (const item of items) {
      const id = typeof item === 'string' && /^\d{1,10}$/.test(item) ? Number(item) : item;
      if (!isJobId(id)) {
        ctx.addIssue({ code: 'custom', message: `expected job ids (whole numbers from 1 to ${MAX_JOB_ID}), got ${JSON.stringify(item)}` });
        return z.NEVER;
      }
      if (!ids.includes(id)) ids.push(id);
    }
    return ids;
  });

const arraySchema = z
  .union([z.string(), z.number()], { error: 'expected array indices such as 0-19, 0-19:2 or 1,5,9, with %N to run at most N at once' })
  .transform((value, ctx): ArraySpec => {
    const spec = parseArraySpec(String(value));
    if ('error' in spec) {
      ctx.addIssue({ code: 'custom', message: spec.error });
      return z.NEVER;
    }
    return spec;
  });

const manifestSchema = z.strictObject({
  name: z
    .string({ error: 'expected a job name' })
    .regex(JOB_NAME, { error: 'expected letters, digits, _ . - (at most 64, starting with a letter or digit)' })
    .optional(),
  image: z
    .string({ error: 'expected an image name such as pytorch/pytorch:2.3' })
    .min(1, { error: 'is required' })
    .refine((image) => image === '' || IMAGE_REF.test(image), {
      error: 'expected an image reference such as pytorch/pytorch:2.3 or registry:5000/team/image@sha256:...',
    })
    .optional(),
  // Compose's short form, `build: ./dir`, is `build: {context: ./dir}`.
  build: z
    .preprocess(
      (value) => (typeof value === 'string' ? { context: value } : value),
      z.strictObject(
        {
          context: relative('the build context folder'),
          dockerfile: insideRelative('the Dockerfile').optional(),
          args: z
            .record(
              z.string(),
              z.union([z.string(), z.number(), z.boolean()], { error: 'expected a string, number or boolean value' }).transform(String),
              { error: 'expected a map of NAME: value' },
            )
            .optional(),
        },
        { error: 'expected a folder, or {context: folder, dockerfile: path, args: {NAME: value}}' },
      ),
    )
    .optional(),
  image_archive: relative('the image archive (a docker save tar)').optional(),
  command: z
    .union(
      [z.string().min(1), z.array(z.union([z.string(), z.number()]).transform(String)).min(1, { error: 'the command list is empty' })],
      { error: 'expected a command string or a non-empty list of arguments' },
    )
    .optional(),
  gpus: z
    .number({ error: 'expected a whole number of GPUs' })
    .int({ error: 'expected a whole number of GPUs' })
    .min(0, { error: 'cannot be negative' })
    .optional(),
  // Checked as the engine will see them (resource-units.ts): 0 would mean no limit.
  memory: sizeSchema('memory').optional(),
  cpus: cpusSchema.optional(),
  shm: sizeSchema('shm').optional(),
  env: z
    .record(
      z.string(),
      z.union([z.string(), z.number(), z.boolean()], { error: 'expected a string, number or boolean value' }).transform(String),
      {
        error: 'expected a map of NAME: value',
      },
    )
    .optional(),
  workdir: absolutePathSchema('workdir').optional(),
  mounts: z.array(mountSchema, { error: 'expected a list of src:dst[:ro]' }).optional(),
  time_limit: z
    .union([z.string(), z.number()], { error: 'expected a duration such as 90m, 48h or 7d' })
    .transform((value, ctx) => {
      const seconds = parseDuration(value);
      if (seconds === undefined || seconds <= 0) {
        ctx.addIssue({ code: 'custom', message: 'expected a duration such as 90m, 48h or 7d' });
        return z.NEVER;
      }
      return seconds;
    })
    .optional(),
  network: z.string({ error: 'expected a network mode name' }).optional(),
  requeue: z.boolean({ error: 'expected true or false' }).optional(),
  array: arraySchema.optional(),
  after: jobIdsSchema.optional(),
  after_any: jobIdsSchema.optional(),
  interactive: z.boolean({ error: 'expected true or false' }).optional(),
  notify: notifySchema.optional(),
});

type RawManifest = z.output<typeof manifestSchema>;

/**
 * Validate manifest text against the config. `fallbackName` (the file's stem) names a job whose
 * manifest has no `name`; `ownerUid`, when known, refuses another user's job image by name.
 */
export function parseManifest(text: string, config: Config, fallbackName = 'job', ownerUid?: number): ManifestResult {
  // Before parsing: the size cap is what keeps a hostile file from costing the daemon memory.
  const bytes = new TextEncoder().encode(text).length;
  if (bytes > config.limits.manifest_bytes) {
    return {
      ok: false,
      issues: [
        { path: '', message: `the manifest is ${bytes} bytes; the limit is ${config.limits.manifest_bytes} (limits.manifest_size)` },
      ],
    };
  }
  const yaml = readYaml(text);
  if (!yaml.ok) return yaml;
  const value = yaml.source.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {
      ok: false,
      issues: [{ path: '', line: yaml.source.lineOf([]) ?? 1, message: 'a manifest is a YAML map of fields (name, image, command, ...)' }],
    };
  }
  const given = value as Record<string, unknown>;
  const parsed = checkSchema(manifestSchema, yaml.source);
  // Every problem in one go: the fields that passed the schema are still held against the
  // server's limits, so fixing what was reported does not reveal more.
  const raw = parsed.ok ? parsed.value : fieldsThatPass(given, parsed.issues);
  const issues = [...(parsed.ok ? [] : parsed.issues), ...checkAgainstConfig(raw, config, yaml.source, given)];
  if (ownerUid !== undefined && raw.image !== undefined && namesForeignJobImage(raw.image, ownerUid)) {
    // Early, on the name alone; the daemon judges the image ID the engine resolves at the start.
    issues.push({
      path: 'image',
      line: yaml.source.lineOf(['image']),
      message: `${raw.image} is another user's job image`,
      denied: true,
    });
  }
  if (!parsed.ok || issues.length > 0) return { ok: false, issues };
  return { ok: true, manifest: applyDefaults(parsed.value, config, fallbackName) };
}

/** The manifest's known top-level fields that no schema issue is about, as the schema outputs them. */
function fieldsThatPass(given: Record<string, unknown>, issues: readonly Issue[]): RawManifest {
  const failed = new Set(issues.map((issue) => /^[^.[]*/.exec(issue.path)![0]));
  const known = Object.keys(manifestSchema.shape);
  const rest = Object.fromEntries(Object.entries(given).filter(([key]) => known.includes(key) && !failed.has(key)));
  const parsed = manifestSchema.safeParse(rest);
  return parsed.success ? parsed.data : {};
}

function applyDefaults(raw: RawManifest, config: Config, fallbackName: string): Manifest {
  const command = raw.command === undefined ? undefined : typeof raw.command === 'string' ? ['/bin/sh', '-c', raw.command] : raw.command;
  const name = raw.name ?? (JOB_NAME.test(fallbackName) ? fallbackName : 'job');
  return {
    name,
    image: raw.image ?? null,
    ...(raw.build
      ? { build: { context: raw.build.context, dockerfile: raw.build.dockerfile ?? 'Dockerfile', args: raw.build.args ?? {} } }
      : {}),
    ...(raw.image_archive ? { image_archive: raw.image_archive } : {}),
    ...(command ? { command } : {}),
    gpus: raw.gpus ?? config.defaults.gpus,
    memory: raw.memory ?? config.defaults.memory,
    cpus: raw.cpus ?? config.defaults.cpus,
    shm: raw.shm ?? config.defaults.shm,
    env: raw.env ?? {},
    ...(raw.workdir ? { workdir: raw.workdir } : {}),
    mounts: raw.mounts ?? [],
    time_limit: raw.time_limit ?? config.defaults.time_limit,
    network: raw.network ?? config.network.default,
    requeue: raw.requeue ?? true,
    ...(raw.array ? { array: raw.array } : {}),
    after: raw.after ?? [],
    after_any: raw.after_any ?? [],
    interactive: raw.interactive ?? false,
    ...(raw.notify ? { notify: notifySpecOf(raw.notify, config.notify) } : {}),
  };
}

/**
 * A manifest validated earlier (a job file in the spool) held against `config` again: the limits,
 * image, mount, network and environment rules, as at push. For a Slurm node, whose config may
 * have changed since; issues carry no line (there is no text).
 */
export function recheckManifest(manifest: Manifest, config: Config): Issue[] {
  const { notify: _notify, array: _array, command, name: _name, build, image_archive, image, ...rest } = manifest;
  const raw = { ...rest, ...(command ? { command } : {}), ...(image !== null ? { image } : {}) } as RawManifest;
  const given = { ...(image !== null ? { image } : {}), ...(build ? { build } : {}), ...(image_archive ? { image_archive } : {}) };
  return checkAgainstConfig(raw, config, { value: manifest, lineOf: () => undefined }, given);
}

/** `given`: the document as written, so a field the schema refused still counts as given. */
function checkAgainstConfig(raw: RawManifest, config: Config, source: YamlSource, given: Record<string, unknown>): Issue[] {
  const issues: Issue[] = [];
  const at = (p: (string | number)[], message: string) => issues.push({ path: formatPath(p), line: source.lineOf(p), message });
  const { limits } = config;
  if (raw.gpus !== undefined && raw.gpus > limits.gpus) at(['gpus'], `at most ${limits.gpus} GPUs per job on this server, got ${raw.gpus}`);
  else if (raw.gpus !== undefined && limits.per_user.gpus !== null && raw.gpus > limits.per_user.gpus) {
    at(['gpus'], `at most ${limits.per_user.gpus} GPUs per user at once on this server, got ${raw.gpus}`);
  } else if (config.backend !== 'slurm' && config.gpus !== 'auto' && raw.gpus !== undefined && raw.gpus > config.gpus.length) {
    // With Slurm the GPUs are its nodes': it refuses what no node has (sbatch).
    at(['gpus'], `this server has ${config.gpus.length} GPUs, got ${raw.gpus}`);
  }
  if (raw.memory !== undefined && raw.memory > limits.memory)
    at(['memory'], `at most ${formatSize(limits.memory)}, got ${formatSize(raw.memory)}`);
  if (raw.shm !== undefined && raw.shm > limits.shm) at(['shm'], `at most ${formatSize(limits.shm)}, got ${formatSize(raw.shm)}`);
  if (raw.cpus !== undefined && raw.cpus > limits.cpus) at(['cpus'], `at most ${limits.cpus} CPUs, got ${raw.cpus}`);
  // The host is one more limit (fit-host.ts records it): the engine refuses more CPUs than it has.
  const host = config.host;
  if (host && raw.cpus !== undefined && raw.cpus <= limits.cpus && raw.cpus > host.cpus)
    at(['cpus'], `${raw.cpus} is more than ${hostAmount(host, 'cpus')}`);
  if (host && raw.memory !== undefined && raw.memory <= limits.memory && raw.memory > host.memory)
    at(['memory'], `${formatSize(raw.memory)} is more than ${hostAmount(host, 'memory')}`);
  if (raw.time_limit !== undefined && raw.time_limit > limits.time_limit) {
    at(['time_limit'], `at most ${limits.time_limit}s (${Math.round(limits.time_limit / 3600)}h) on this server, got ${raw.time_limit}s`);
  }
  for (const key of Object.keys(raw.env ?? {})) {
    if (!ENV_NAME.test(key))
      at(['env', key], 'an environment variable name has only letters, digits and _, and does not start with a digit');
    else if (RESERVED_ENV.test(key)) at(['env', key], 'is set by dopq (GPU assignment and job identity) and cannot be set by a manifest');
  }
  for (const key of Object.keys(raw.build?.args ?? {})) {
    if (!ENV_NAME.test(key))
      at(['build', 'args', key], 'a build argument name has only letters, digits and _, and does not start with a digit');
  }
  (raw.mounts ?? []).forEach((mount, index) => {
    if (!isUnderRoots(mount.src, config.mounts.allowed_roots)) {
      const roots = config.mounts.allowed_roots;
      at(
        ['mounts', index],
        roots.length === 0 ? 'this server allows no mounts' : `the source must be under ${roots.join(' or ')}, got ${mount.src}`,
      );
    }
  });
  const output = config.mounts.output;
  if (output) {
    (raw.mounts ?? []).forEach((mount, index) => {
      if (mount.dst === output.container) at(['mounts', index], `${output.container} is where every job gets its owner's output folder`);
    });
  }
  const sources = (['image', 'build', 'image_archive'] as const).filter((key) => given[key] !== undefined);
  if (sources.length === 0) at([], 'image: is required (or build: to build one, or image_archive: to load one)');
  if (sources.length > 1) at([sources[1]!], `give one of image, build or image_archive, not ${sources.join(' and ')}`);
  // dopq's job images are the owner's own builds on allowed bases; whose they are is checked with the uid.
  if (
    raw.image !== undefined &&
    config.images.allowed !== null &&
    claimedJobOwner(raw.image) === undefined &&
    !imageAllowed(raw.image, config.images.allowed)
  ) {
    at(['image'], `this server runs only these images: ${config.images.allowed.join(', ')}; got ${raw.image}`);
  }
  // Every task would build its own copy of the image: an array runs an image that is there.
  if (raw.array !== undefined && given.image === undefined && sources.length > 0)
    at(['array'], `an array runs one image for all its tasks: give image:, not ${sources.join(' or ')}`);
  if (raw.notify !== undefined) {
    for (const channel of disallowedChannels(raw.notify, config.notify)) {
      at(
        ['notify', channel],
        `this server does not send notifications by ${channel} (allowed: ${config.notify.channels.join(', ') || 'none'})`,
      );
    }
  }
  if (raw.network !== undefined && !config.network.allowed.includes(raw.network)) {
    at(['network'], `allowed here: ${config.network.allowed.join(', ')}; got ${JSON.stringify(raw.network)}`);
  }
  return issues;
}

/** Lexical check; the daemon repeats it on the realpath so symlinks cannot escape. */
export function isUnderRoots(candidate: string, roots: readonly string[]): boolean {
  const normal = path.posix.normalize(candidate);
  return roots.some((root) => normal === root || normal.startsWith(root.endsWith('/') ? root : `${root}/`));
}

/** `*` in a pattern matches any run of characters (slashes included); the rest matches itself. */
export function imageAllowed(image: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => {
    const regex = new RegExp(
      `^${pattern
        .split('*')
        .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
        .join('.*')}$`,
    );
    return regex.test(image);
  });
}
