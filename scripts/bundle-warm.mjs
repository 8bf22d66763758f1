// Run by scripts/bundle.mjs: write the bundle's V8 code cache (dist/src/bundle/dopq.cjs.cache).
// A cache made right after compiling holds only the top level; one made after running holds every
// function that ran. So this runs the commands people run most often, each once, in this one
// process, on a throwaway spool, then saves what V8 compiled for them. A command that fails
// here only leaves its functions out of the cache; the bundle works the same without any.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { loadBundle, CODE_CACHE } = createRequire(import.meta.url)(path.join(root, 'dist/src/dopq.cjs'));
const { exports: bundle, script } = loadBundle();

const dir = await mkdtemp(path.join(tmpdir(), 'dopq-warm-'));
try {
  const config = path.join(dir, 'dopq.yaml');
  await writeFile(config, `spool: ${JSON.stringify(path.join(dir, 'spool'))}\ngpus: [0, 1]\ngpu_assignment: env\n`);
  const silent = { out() {}, err() {}, isTTY: false };
  const env = { ...process.env, DOPQ_CONFIG: config };
  const example = path.join(root, 'examples/hello.yaml');
  const runs = [['--help'], ['init'], ['push', example], ['push', '--json', example], ['q'], ['q', '--json'], ['log', '1'], ['rm', '2'], ['--version']];
  for (const args of runs) await bundle.main(['node', 'dopq', '--config', config, ...args], silent, env).catch(() => undefined);
  await writeFile(CODE_CACHE, script.createCachedData());
} finally {
  await rm(dir, { recursive: true, force: true });
}
