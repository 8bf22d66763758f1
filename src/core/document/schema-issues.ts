// A document's value checked against a zod schema, its problems as our Issues: a dotted field
// path, the YAML line, and a message in our words. A field's own `error` in the schema says what
// that field expects; where a schema gives none, the message is built from the issue's code and
// fields (never from zod's wording, which is not ours to show and may change with zod). An
// unknown field names the known one it is closest to, as commander does for options.
import { closestMatch } from 'leven';
import type { z } from 'zod';
import type { Issue } from '../errors.js';
import { formatPath, type PathSegment, type YamlSource } from './yaml-source.js';

export type SchemaResult<T> = { ok: true; value: T } | { ok: false; issues: Issue[] };

/** `value` (the document's own by default) as `schema` outputs it, or every problem with its field and line. */
export function checkSchema<S extends z.ZodType>(schema: S, source: YamlSource, value: unknown = source.value): SchemaResult<z.output<S>> {
  // A parse-wide error map ranks below each field's own `error`: it only fills in the rest.
  const parsed = schema.safeParse(value, { error: defaultMessage });
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, issues: toIssues(schema, parsed.error.issues, source) };
}

function toIssues(schema: z.ZodType, zodIssues: readonly z.core.$ZodIssue[], source: YamlSource): Issue[] {
  return zodIssues.flatMap((zodIssue) => {
    const path = zodIssue.path.filter((s): s is PathSegment => typeof s !== 'symbol');
    if (zodIssue.code === 'unrecognized_keys') {
      return zodIssue.keys.map((key) => ({
        path: formatPath([...path, key]),
        line: source.lineOf([...path, key]),
        message: unknownFieldMessage(path, key, knownKeysAt(schema, path)),
      }));
    }
    return [{ path: formatPath(path), line: source.lineOf(path), message: messageFor(zodIssue, valueAt(source.value, path)) }];
  });
}

function unknownFieldMessage(parent: PathSegment[], key: string, known: readonly string[]): string {
  const text = parent.length === 0 ? 'unknown field' : `unknown field in ${formatPath(parent)}`;
  const near = closestKnown(key, known);
  return near === undefined ? text : `${text}; did you mean ${near}?`;
}

/**
 * The known field a mistyped `key` most likely meant: `cpu` -> `cpus`, `time-limit` ->
 * `time_limit`, `Memory` -> `memory`. Within a third of the key's length (at least 1, at most 3
 * edits), so `privileged` or `colour` get no suggestion that would only mislead.
 */
export function closestKnown(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const maxDistance = Math.min(3, Math.max(1, Math.floor(lower.length / 3)));
  const byLower = new Map(known.map((k) => [k.toLowerCase(), k]));
  const match = closestMatch(lower, [...byLower.keys()], { maxDistance });
  return match === undefined ? undefined : byLower.get(match);
}

type SchemaNode = z.ZodType & {
  def: {
    type: string;
    innerType?: z.ZodType;
    in?: z.ZodType;
    out?: z.ZodType;
    shape?: Record<string, z.ZodType>;
    element?: z.ZodType;
    valueType?: z.ZodType;
    options?: readonly z.ZodType[];
  };
};

/** The field names the object at `path` in `schema` accepts (every object branch's, for a union). */
function knownKeysAt(schema: z.ZodType, path: readonly PathSegment[]): string[] {
  const objects = nodesAt(schema as SchemaNode, path).filter((node) => node.def.type === 'object');
  return [...new Set(objects.flatMap((node) => Object.keys(node.def.shape ?? {})))];
}

function nodesAt(schema: SchemaNode, path: readonly PathSegment[]): SchemaNode[] {
  const node = unwrap(schema);
  if (node.def.type === 'union') return (node.def.options ?? []).flatMap((option) => nodesAt(option as SchemaNode, path));
  if (path.length === 0) return [node];
  const [segment, ...rest] = path;
  const { type, shape, element, valueType } = node.def;
  const child = type === 'object' ? shape?.[String(segment)] : type === 'array' ? element : type === 'record' ? valueType : undefined;
  return child ? nodesAt(child as SchemaNode, rest) : [];
}

// Defaults, optionals and pipes wrap the schema that says which fields there are: a
// preprocessed field (`build: ./dir`) is checked by the schema its transform feeds.
function unwrap(schema: SchemaNode): SchemaNode {
  let node = schema;
  for (;;) {
    const { type, innerType, in: input, out } = node.def;
    if ((type === 'default' || type === 'optional' || type === 'nullable' || type === 'prefault') && innerType)
      node = innerType as SchemaNode;
    else if (type === 'pipe' && input && out) node = ((input as SchemaNode).def.type === 'transform' ? out : input) as SchemaNode;
    else return node;
  }
}

/**
 * A message without the value it quotes. Messages quote what was given last, as `, got <value>`
 * (here, and in the limit checks of manifest.ts), so the rest says the field and what it expects.
 */
export function withoutGivenValue(message: string): string {
  return message.replace(/,? got [\s\S]*$/, '');
}

// Every message says what was expected; the value given is added unless the message names it.
function messageFor(issue: z.core.$ZodIssue, value: unknown): string {
  if (issue.code === 'invalid_type' && value === undefined) return 'is required';
  return issue.message.includes('got ') || value === undefined ? issue.message : `${issue.message}, got ${describe(value)}`;
}

/** What was expected, by the issue's code, for fields whose schema says nothing itself. */
function defaultMessage(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${issue.expected}`;
    case 'too_small':
      return `must be at least ${String(issue.minimum)}`;
    case 'too_big':
      return `must be at most ${String(issue.maximum)}`;
    case 'invalid_union':
      return issue.input === undefined ? 'is required' : unionMessage(issue.errors);
    case 'invalid_value':
      return `expected ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}`;
    case 'invalid_key':
      // The issue's path ends at the key, so its value would be the entry's: name the key instead.
      return `${issue.issues[0]?.message ?? 'not an allowed key'} (a key), got ${describe(issue.input)}`;
    case 'invalid_format':
      return issue.format === 'regex' ? `expected text matching ${String(issue.pattern)}` : `expected ${issue.format}`;
    case 'not_multiple_of':
      return `must be a multiple of ${String(issue.divisor)}`;
    default:
      return undefined; // invalid_element and custom: none of our schemas leave these without a message
  }
}

// `z.union([z.string(), z.number()])` without an `error`: name the types each branch wanted.
function unionMessage(branches: readonly (readonly z.core.$ZodIssue[])[]): string {
  const expected = branches.flatMap((issues) => issues.flatMap((issue) => (issue.code === 'invalid_type' ? [issue.expected] : [])));
  return expected.length === branches.length && expected.length > 0
    ? `expected ${[...new Set(expected)].join(' or ')}`
    : 'matches none of the allowed forms';
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return String(value);
}

function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let node = root;
  for (const segment of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[segment];
  }
  return node;
}
