// YAML text -> plain value plus a way to find the line of any field, so validation errors can
// name the line. Aliases are refused outright: a manifest never needs them, and they are how
// "billion laughs" documents blow up memory.
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Node } from 'yaml';
import type { Issue } from '../errors.js';

export type PathSegment = string | number;

export interface YamlSource {
  value: unknown;
  /** 1-based line of the field at `path` (the key's line for map entries), if it exists. */
  lineOf(path: readonly PathSegment[]): number | undefined;
}

export type YamlResult = { ok: true; source: YamlSource } | { ok: false; issues: Issue[] };

export function readYaml(text: string): YamlResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true });
  const line = (offset: number | undefined): number | undefined => (offset === undefined ? undefined : lineCounter.linePos(offset).line);

  const issues: Issue[] = doc.errors.map((error) => ({
    path: '',
    line: line(error.pos[0]),
    message: yamlErrorMessage(error.code, error.message),
  }));
  const aliases = new Set<string>();
  const complexKeys = new Set<unknown>();
  visit(doc, {
    Pair(_key, pair) {
      // `? [a, b]: x`: a key JavaScript can only stringify; no dopq field looks like that.
      const at = line((pair.key as Node | null)?.range?.[0]);
      if (pair.key !== null && !isScalar(pair.key) && !isAlias(pair.key) && !complexKeys.has(at)) {
        complexKeys.add(at);
        issues.push({ path: '', line: at, message: 'a key must be a plain name, not a list or map' });
      }
    },
    Alias(_key, node) {
      const at = line(node.range?.[0]);
      if (aliases.has(`${at}:${node.source}`)) return; // once per alias and line: a bomb repeats them
      aliases.add(`${at}:${node.source}`);
      issues.push({ path: '', line: at, message: `YAML aliases (*${node.source}) are not allowed` });
    },
  });
  if (issues.length > 0) return { ok: false, issues };

  const value = doc.toJS({ maxAliasCount: 0 }) as unknown;
  return {
    ok: true,
    source: {
      value,
      lineOf(path) {
        let node: unknown = doc.contents;
        let found: number | undefined = line((doc.contents as Node | null)?.range?.[0]);
        for (const segment of path) {
          if (isMap(node)) {
            const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(segment));
            if (!pair) return found;
            found = line((pair.key as Node).range?.[0]) ?? found;
            node = pair.value;
          } else if (isSeq(node) && typeof segment === 'number') {
            const item = node.items[segment] as Node | undefined;
            if (!item) return found;
            found = line(item.range?.[0]) ?? found;
            node = item;
          } else if (isAlias(node)) {
            return found;
          } else {
            return found;
          }
        }
        return found;
      },
    },
  };
}

function yamlErrorMessage(code: string, message: string): string {
  const firstLine = message.split('\n')[0] ?? message;
  if (code === 'DUPLICATE_KEY') return 'a key appears twice (keys must be unique)';
  return `YAML syntax error: ${firstLine.replace(/ at line \d+, column \d+:?$/, '')}`;
}

/** Dotted path for messages: `mounts[1]`, `env.TOKEN`. */
export function formatPath(path: readonly PathSegment[]): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else text += text === '' ? segment : `.${segment}`;
  }
  return text;
}
