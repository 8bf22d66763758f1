// `npm run build`, after tsc: bundle the CLI so a command loads a few files, not ~150 modules.
// Each `dopq` call is a fresh process, and resolving, reading and compiling every module of
// src/ and its dependencies took most of `dopq push`'s time (see `npm run bench`).
//
// In: dist/src/cli.js and what it imports (tsc's output, already type-checked).
// Out: dist/src/bundle/ (an entry and chunks split at the commands' dynamic imports, so `push`
// loads neither dockerode nor chokidar), and dist/src/cli.js replaced by a shim that imports it.
// The rest of dist/ stays as tsc wrote it: the tests import those modules directly.
import { chmod, copyFile, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'dist/src');
const out = path.join(src, 'bundle');
const entry = path.join(src, 'cli.js');
/** tsc's cli.js, kept: the bundle's input when this runs again without tsc before it. */
const compiled = path.join(src, 'cli.tsc.js');
const SHIM =
  "#!/usr/bin/env node\n// The `dopq` executable: the bundle scripts/bundle.mjs made of src/cli.ts and what it imports.\nimport './bundle/cli.js';\n";

/**
 * A module's `import.meta.url` keeps meaning where tsc put it (dist/src/io/files/… finds etc/
 * from there), wherever in the bundle it ends up: every output file lies in dist/src/bundle/.
 */
const keepModuleUrls = {
  name: 'keep-module-urls',
  setup(build) {
    build.onLoad({ filter: /\.js$/ }, async (args) => {
      if (!args.path.startsWith(`${src}${path.sep}`)) return undefined;
      const text = await readFile(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const own = path.relative(out, args.path).split(path.sep).join('/');
      return { contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(own)}, import.meta.url).href`), loader: 'js' };
    });
  },
};

if ((await readFile(entry, 'utf8')) !== SHIM) await copyFile(entry, compiled);
await rm(out, { recursive: true, force: true });
const result = await esbuild.build({
  entryPoints: { cli: compiled },
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20', // package.json's engines
  chunkNames: '[name]-[hash]',
  // ssh2 (under dockerode) may load a native addon: left to node_modules, as installed.
  external: ['ssh2', 'cpu-features'],
  // CommonJS dependencies (commander, proper-lockfile, …) call require() for Node's modules.
  banner: { js: "import { createRequire as __dopqRequire } from 'node:module'; const require = __dopqRequire(import.meta.url);" },
  minifyWhitespace: true,
  minifySyntax: true,
  metafile: true,
  logLevel: 'warning',
  plugins: [keepModuleUrls],
});
// What each output file holds, for a look at what a command loads (`npx esbuild --analyze` reads it too).
await writeFile(path.join(root, 'dist/bundle-meta.json'), JSON.stringify(result.metafile));
await rm(`${entry}.map`, { force: true });
await writeFile(entry, SHIM);
await chmod(entry, 0o755);
