// `npm run build`, after tsc: bundle the CLI so a command loads one script, not ~150 modules.
// Each `dopq` call is a fresh process, and resolving, reading and compiling every module of
// src/ and its dependencies took most of `dopq push`'s time (see `npm run bench`).
//
// In: dist/src/cli/program.js and what it imports (tsc's output, already type-checked).
// Out: dist/src/bundle/dopq.cjs, one CommonJS script (modules a command imports dynamically are
// evaluated only when it runs, so `push` evaluates neither dockerode nor chokidar), its V8 code
// cache (scripts/bundle-warm.mjs), the executable dist/src/dopq.cjs that runs them
// (scripts/dopq-launcher.cjs, which says why CommonJS), and dist/src/cli.js replaced by a shim
// that runs it too, for `node dist/src/cli.js`. The rest of dist/ stays as tsc wrote it: the
// tests import those modules directly.
import { execFile } from 'node:child_process';
import { chmod, copyFile, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'dist/src');
const out = path.join(src, 'bundle');
const entry = path.join(src, 'cli.js');
const launcher = path.join(src, 'dopq.cjs');
const SHIM =
  "#!/usr/bin/env node\n// `node dist/src/cli.js`: the same as the `dopq` executable, dist/src/dopq.cjs (scripts/bundle.mjs).\nimport { createRequire } from 'node:module';\n\ncreateRequire(import.meta.url)('./dopq.cjs').run();\n";

/**
 * A module's `import.meta.url` keeps meaning where tsc put it (dist/src/io/files/… finds etc/
 * from there), wherever it ends up: the bundle lies in dist/src/bundle/ (its `__dirname`). Node's
 * own modules imported on first use (`await import('node:crypto')`) become require() calls, which
 * a script run through node:vm has and a dynamic import() has not.
 */
const keepModuleUrls = {
  name: 'keep-module-urls',
  setup(build) {
    build.onLoad({ filter: /\.js$/ }, async (args) => {
      if (!args.path.startsWith(`${src}${path.sep}`)) return undefined;
      const text = await readFile(args.path, 'utf8');
      if (!text.includes('import.meta.url') && !text.includes("import('node:")) return undefined;
      const own = path.relative(out, args.path).split(path.sep).join('/');
      const url = `require('node:url').pathToFileURL(require('node:path').join(__dirname, ${JSON.stringify(own)})).href`;
      const contents = text.replaceAll('import.meta.url', url).replace(/import\('(node:[a-z_/]+)'\)/g, "Promise.resolve(require('$1'))");
      return { contents, loader: 'js' };
    });
  },
};

await rm(out, { recursive: true, force: true });
const result = await esbuild.build({
  stdin: { contents: "export { main } from './cli/program.js';", resolveDir: src, sourcefile: 'bundle-entry.js' },
  outfile: path.join(out, 'dopq.cjs'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20', // package.json's engines
  // ssh2 (under dockerode) may load a native addon: left to node_modules, as installed.
  // nodemailer (notify.smtp only, loaded by the daemon on its first e-mail) would add a sixth to every command's script.
  external: ['ssh2', 'cpu-features', 'nodemailer'],
  minifyWhitespace: true,
  minifySyntax: true,
  metafile: true,
  logLevel: 'warning',
  plugins: [keepModuleUrls],
});
// What each output file holds, for a look at what a command loads (`npx esbuild --analyze` reads it too).
await writeFile(path.join(root, 'dist/bundle-meta.json'), JSON.stringify(result.metafile));
await rm(`${entry}.map`, { force: true });
await copyFile(path.join(root, 'scripts/dopq-launcher.cjs'), launcher);
await chmod(launcher, 0o755);
await writeFile(entry, SHIM);
await chmod(entry, 0o755);
await promisify(execFile)(process.execPath, [path.join(root, 'scripts/bundle-warm.mjs')]);
