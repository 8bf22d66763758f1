// The bundled CLI (scripts/bundle.mjs) loads per command only what that command uses: every
// `dopq` call is a fresh process, and what it loads is most of what `push` and `q` cost.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { runCli } from '../helpers/cli.js';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Metafile {
  outputs: Record<string, { imports: { path: string; kind: string; external?: boolean }[]; inputs: Record<string, unknown> }>;
}

/** The packages in the files a command's chunk loads before it runs (static imports, transitively). */
async function packagesLoadedBy(command: string): Promise<Set<string>> {
  const meta = JSON.parse(await readFile(path.join(dist, 'bundle-meta.json'), 'utf8')) as Metafile;
  const start = Object.keys(meta.outputs).find((file) => path.basename(file).startsWith(`${command}-`) && file.endsWith('.js'));
  if (!start) throw new Error(`no chunk for ${command} in the bundle`);
  const files = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const next of meta.outputs[file]!.imports) if (next.kind === 'import-statement' && !next.external) visit(next.path);
  };
  visit(start);
  visit(Object.keys(meta.outputs).find((file) => file.endsWith('/bundle/cli.js'))!);
  const packages = new Set<string>();
  for (const file of files)
    for (const input of Object.keys(meta.outputs[file]!.inputs)) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
      if (match) packages.add(match[1]!);
    }
  return packages;
}

test('dist/src/cli.js is the bundle, and runs', async (t) => {
  t.regex(await readFile(path.join(dist, 'src/cli.js'), 'utf8'), /import '\.\/bundle\/cli\.js'/);
  const result = await runCli(['--version']);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^\d+\.\d+\.\d+/);
});

test('push and q load neither the Docker client nor the watcher, the lock library or the packers', async (t) => {
  for (const command of ['push', 'q']) {
    const loaded = await packagesLoadedBy(command);
    t.true(loaded.has('zod') && loaded.has('yaml'), `${command} loads the config's parsers`);
    for (const heavy of ['dockerode', 'chokidar', 'proper-lockfile', 'graceful-fs', 'tar-stream', 'yauzl'])
      t.false(loaded.has(heavy), `${command} loads ${heavy}`);
  }
});

test('zod is bundled without its locales and JSON Schema (imported as a namespace)', async (t) => {
  const meta = JSON.parse(await readFile(path.join(dist, 'bundle-meta.json'), 'utf8')) as Metafile;
  const zodInputs = Object.values(meta.outputs).flatMap((output) =>
    Object.keys(output.inputs).filter((input) => input.includes('node_modules/zod/')),
  );
  t.true(zodInputs.length > 0);
  t.false(
    zodInputs.some((input) => input.includes('/locales/he.') || input.includes('from-json-schema')),
    'all of zod was bundled',
  );
});
