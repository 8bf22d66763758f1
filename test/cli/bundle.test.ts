// The bundled CLI (scripts/bundle.mjs): one script run with V8's code cache, which evaluates per
// command only what that command uses: every `dopq` call is a fresh process, and what it loads and
// compiles is most of what `push` and `q` cost.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { CLI, runCli } from '../helpers/cli.js';
import { makeTempSpool } from '../io/temp-spool.js';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Metafile {
  outputs: Record<string, { inputs: Record<string, unknown> }>;
}

function node(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('the dopq executable and the dist/src/cli.js shim both run the bundle', async (t) => {
  t.regex(await readFile(CLI, 'utf8'), /bundle/);
  for (const entry of [CLI, path.join(dist, 'src/cli.js')]) {
    const result = await node([entry, '--version']);
    t.is(result.code, 0, result.stderr);
    t.regex(result.stdout, /^\d+\.\d+\.\d+\n$/);
  }
});

test('V8 takes the code cache built with the bundle (a rejected one would compile everything again)', async (t) => {
  const probe = `const { loadBundle } = require(${JSON.stringify(CLI)}); const { script } = loadBundle(); process.stdout.write(String(script.cachedDataRejected));`;
  const result = await node(['-e', probe]);
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout, 'false');
});

/**
 * Node's own modules a command loaded, beyond a bare start: the packages dopq must not evaluate
 * for push and q show here by what they need (dockerode: http; the archive readers: zlib), and q
 * must not pay for crypto (it hashes nothing).
 */
async function builtinsLoadedBy(args: string[]): Promise<string[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'dopq-builtins-'));
  try {
    const hook = path.join(dir, 'hook.cjs');
    const list = path.join(dir, 'loaded.txt');
    await writeFile(
      hook,
      `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(list)}, process.moduleLoadList.join('\\n')));`,
    );
    await node(['--require', hook, CLI, ...args]);
    return (await readFile(list, 'utf8')).split('\n').map((line) => line.replace(/^NativeModule /, ''));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('push and q evaluate neither the Docker client nor the archive readers; q loads no crypto', async (t) => {
  const spool = await makeTempSpool(t);
  const manifest = path.join(spool.dir, 'job.yaml');
  await writeFile(manifest, 'image: busybox\ncommand: "true"\n');
  const push = await builtinsLoadedBy(['--config', spool.configFile, 'push', manifest]);
  t.is((await spool.cli(['q', '--json'])).stdout.includes('"state":"queued"'), true, 'push queued the job');
  const q = await builtinsLoadedBy(['--config', spool.configFile, 'q', '--json']);
  for (const [command, loaded] of [
    ['push', push],
    ['q', q],
  ] as const) {
    t.true(loaded.includes('fs/promises'), `${command}: the list is Node's modules`);
    for (const heavy of ['http', 'https', 'zlib']) t.false(loaded.includes(heavy), `${command} loads ${heavy}`);
  }
  t.false(q.includes('crypto'), 'q loads crypto');
  // The check can fail: doctor, which asks the engine through dockerode, does load http.
  t.true((await builtinsLoadedBy(['--config', spool.configFile, 'doctor'])).includes('http'), 'doctor loads http');
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

test('runCli runs the executable npm installs', async (t) => {
  const result = await runCli(['--version']);
  t.is(result.code, 0, result.stderr);
});
