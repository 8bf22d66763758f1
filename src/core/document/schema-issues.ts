// Zod issues -> our Issues with a dotted field path and the YAML line, one per problem.
import type { z } from 'zod';
import type { Issue } from '../errors.js';
import { formatPath, type PathSegment, type YamlSource } from './yaml-source.js';

export function toIssues(zodIssues: readonly z.core.$ZodIssue[], source: YamlSource): Issue[] {
  const issues: Issue[] = [];
  for (const zodIssue of zodIssues) {
    const path = zodIssue.path.filter((s): s is PathSegment => typeof s !== 'symbol');
    if (zodIssue.code === 'unrecognized_keys') {
      for (const key of zodIssue.keys) {
        const keyPath = [...path, key];
        issues.push({ path: formatPath(keyPath), line: source.lineOf(keyPath), message: unknownFieldMessage(path) });
      }
      continue;
    }
    issues.push({ path: formatPath(path), line: source.lineOf(path), message: messageFor(zodIssue, valueAt(source.value, path)) });
  }
  return issues;
}

function unknownFieldMessage(parent: PathSegment[]): string {
  return parent.length === 0 ? 'unknown field' : `unknown field in ${formatPath(parent)}`;
}

function messageFor(issue: z.core.$ZodIssue, value: unknown): string {
  if (issue.code === 'invalid_type' && value === undefined) return 'is required';
  // Messages we wrote ourselves (per-field `error`) already say what was expected.
  if (!issue.message.startsWith('Invalid input') && !issue.message.startsWith('Too ')) {
    return issue.message.includes('got ') || value === undefined ? issue.message : `${issue.message}, got ${describe(value)}`;
  }
  if (issue.code === 'invalid_type' && value === undefined) return 'is required';
  if (issue.code === 'invalid_type') return `expected ${issue.expected}, got ${describe(value)}`;
  if (issue.code === 'too_small') return `must be at least ${String(issue.minimum)}, got ${describe(value)}`;
  if (issue.code === 'too_big') return `must be at most ${String(issue.maximum)}, got ${describe(value)}`;
  return issue.message;
}

export function describe(value: unknown): string {
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
