// The docs match the code: every command and option the CLI accepts is in README's Commands
// table and in dopq(1), and every config key is in the bundled config (set, or commented out
// with its default). Derived from the program and the schema, so a new one cannot be missed.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/program.js';
import { configKeys, parseConfig } from '../../src/core/config/config.js';

const repo = (file: string) => readFile(fileURLToPath(new URL(`../../../${file}`, import.meta.url)), 'utf8');

interface Documented {
  /** `usage reset`, `q` */
  path: string;
  aliases: string[];
  options: string[];
}

function commands(program: Command, prefix = ''): Documented[] {
  return program.commands
    .filter((c) => !(c as unknown as { _hidden?: boolean })._hidden)
    .flatMap((c) => {
      const path = `${prefix}${c.name()}`;
      const options = c.options.filter((o) => !o.hidden && o.long).map((o) => o.long!);
      return [{ path, aliases: c.aliases(), options }, ...commands(c, `${path} `)];
    });
}

const program = buildProgram({ out: () => {}, err: () => {}, isTTY: false }, {}, () => {});
const all = commands(program);
const globalOptions = program.options.filter((o) => !o.hidden && o.long).map((o) => o.long!);

test('every command, alias and option is in README', async (t) => {
  const readme = await repo('README.md');
  const table = readme.slice(readme.indexOf('## Commands'), readme.indexOf('\n## ', readme.indexOf('## Commands') + 1));
  t.true(all.length > 10, all.map((c) => c.path).join(', '));
  const missing: string[] = [];
  for (const { path, aliases, options } of all) {
    // A row names it as `dopq usage reset ...`, or after a slash beside its pair (`pause` / `resume`).
    if (!new RegExp(`(dopq |/ )\`?${path}\\b`).test(table)) missing.push(`command ${path}`);
    for (const alias of aliases) if (!new RegExp(`\\b${alias}\\b`).test(table)) missing.push(`alias ${alias} of ${path}`);
    for (const option of options) if (!table.includes(option)) missing.push(`${path} ${option}`);
  }
  for (const option of globalOptions) if (!readme.includes(option)) missing.push(`global ${option}`);
  t.deepEqual(missing, []);
});

test('every command, alias and option is in dopq(1)', async (t) => {
  const page = (await repo('man/dopq.1')).replaceAll('\\-', '-').replaceAll(/\\f[BIRP]/g, '');
  const missing: string[] = [];
  for (const { path, aliases, options } of all) {
    if (!page.includes(path)) missing.push(`command ${path}`);
    for (const alias of aliases) if (!page.includes(alias)) missing.push(`alias ${alias} of ${path}`);
    for (const option of options) if (!page.includes(option)) missing.push(`${path} ${option}`);
  }
  for (const option of globalOptions) if (!page.includes(option)) missing.push(`global ${option}`);
  t.deepEqual(missing, []);
});

test('the bundled config has every key, set or commented out, and loads', async (t) => {
  const text = await repo('etc/dopq.yaml');
  t.notThrows(() => parseConfig(text, fileURLToPath(new URL('../../../etc/dopq.yaml', import.meta.url))));
  const lines = text.split('\n');
  const missing: string[] = [];
  for (const key of configKeys()) {
    // Each part of the path on a line of its own (maybe after `# `), below its parent's line.
    let from = 0;
    for (const part of key.split('.')) {
      const at = lines.findIndex((line, i) => i >= from && new RegExp(`^[ \\t]*(#[ \\t]*)?${part}:`).test(line));
      if (at < 0) {
        missing.push(key);
        break;
      }
      from = at + 1;
    }
  }
  t.deepEqual(missing, []);
});
