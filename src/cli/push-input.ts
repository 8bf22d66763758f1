// `dopq push` without a file, from standard input, or with flags over a file's fields: one
// manifest text for the one validation (core/job/manifest.ts), whose issues then name the flag
// where a flag gave the value, and the file's line where the file did.
import { stringify } from 'yaml';
import type { Issue } from '../core/errors.js';
import { JOB_NAME } from '../core/job/manifest.js';
import { readYaml, type PathSegment } from '../core/document/yaml-source.js';
import type { PushFlags } from './push-flags.js';

/** Manifest field -> the flag that sets it (one value each). */
const SCALAR_FLAGS = {
  image: ['image', '--image'],
  gpus: ['gpus', '--gpus'],
  cpus: ['cpus', '--cpus'],
  memory: ['memory', '--memory'],
  shm: ['shm', '--shm'],
  time_limit: ['time', '--time'],
  name: ['name', '--name'],
  array: ['array', '--array'],
  after: ['after', '--after'],
  after_any: ['afterAny', '--after-any'],
} as const satisfies Record<string, readonly [keyof PushFlags, string]>;

export function hasFieldFlags(flags: PushFlags, command: readonly string[] | undefined): boolean {
  return (
    command !== undefined ||
    flags.env !== undefined ||
    flags.mount !== undefined ||
    Object.values(SCALAR_FLAGS).some(([key]) => flags[key] !== undefined)
  );
}

/** The manifest to validate, and how to name each of its issues. */
export interface MergedManifest {
  text: string;
  /** An issue of the merged text, with the flag or the original's line it is about. */
  nameIssue(issue: Issue): Issue;
}

/**
 * `original` (a file's or stdin's text; undefined for flags alone) with the flags over it: each
 * flag replaces its field, `--env` adds to or replaces env's names, `--mount` adds mounts, and
 * the words after `--` are the command. Text that is not a YAML map is returned as it is, so
 * the validation reports it with its lines.
 */
export function mergeManifest(
  original: string | undefined,
  flags: PushFlags,
  command: readonly string[] | undefined,
  defaultName: string | undefined,
): MergedManifest {
  const asIs: MergedManifest = { text: original ?? '', nameIssue: (issue) => issue };
  let fields: Record<string, unknown> = {};
  let lineOf: (path: readonly PathSegment[]) => number | undefined = () => undefined;
  if (original !== undefined && original.trim() !== '') {
    const yaml = readYaml(original);
    if (!yaml.ok) return asIs;
    const value = yaml.source.value;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return asIs;
    fields = { ...(value as Record<string, unknown>) };
    lineOf = (path) => yaml.source.lineOf(path);
  }
  const fromFlag = new Map<string, string>();
  for (const [field, [key, flag]] of Object.entries(SCALAR_FLAGS)) {
    const text = flags[key];
    if (text === undefined) continue;
    // Numbers as numbers, so the schema's own messages apply (`expected a whole number of GPUs`).
    fields[field] = (field === 'gpus' || field === 'cpus') && /^\d+(\.\d+)?$/.test(text) ? Number(text) : text;
    fromFlag.set(field, flag);
  }
  const envFromFlags = new Set(Object.keys(flags.env ?? {}));
  if (flags.env) fields.env = { ...(isMap(fields.env) ? fields.env : {}), ...flags.env };
  const fileMounts = Array.isArray(fields.mounts) ? fields.mounts.length : 0;
  if (flags.mount) fields.mounts = [...(Array.isArray(fields.mounts) ? fields.mounts : []), ...flags.mount];
  if (command !== undefined) {
    fields.command = [...command];
    fromFlag.set('command', '-- COMMAND');
  }
  if (fields.name === undefined && defaultName !== undefined) fields.name = defaultName;
  return {
    text: stringify(fields),
    nameIssue(issue) {
      const segments = pathSegments(issue.path);
      const [top] = segments;
      if (top === undefined) return issue;
      const { line: _line, ...rest } = issue;
      const flag = typeof top === 'string' ? fromFlag.get(top) : undefined;
      if (flag) return { ...rest, path: flag };
      if (top === 'env' && typeof segments[1] === 'string' && envFromFlags.has(segments[1]))
        return { ...rest, path: `--env ${segments[1]}` };
      if (top === 'mounts' && typeof segments[1] === 'number' && segments[1] >= fileMounts) return { ...rest, path: '--mount' };
      const line = lineOf(segments) ?? lineOf([top]);
      return line === undefined ? rest : { ...rest, line };
    },
  };
}

function isMap(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** `env.FOO`, `mounts[1]` -> ['env', 'FOO'], ['mounts', 1] (formatPath's inverse). */
function pathSegments(path: string): PathSegment[] {
  const segments: PathSegment[] = [];
  for (const match of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) segments.push(match[2] !== undefined ? Number(match[2]) : match[1]!);
  return segments;
}

/** The name a job pushed without a file gets when none is given: its program's, else `job`. */
export function nameFromCommand(command: readonly string[] | undefined): string {
  const program = command?.[0]?.split('/').pop() ?? '';
  return JOB_NAME.test(program) ? program : 'job';
}
