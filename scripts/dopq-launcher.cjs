#!/usr/bin/env node
// The `dopq` executable (copied by scripts/bundle.mjs to dist/src/dopq.cjs, package.json's bin).
// It runs the bundle, one CommonJS script, compiled through node:vm with V8's code cache
// (bundle/dopq.cjs.cache, written at build time by scripts/bundle-warm.mjs), because Node 20 can
// cache the compiled code of a script but not of ES modules (module.enableCompileCache is Node 22),
// and compiling what a command runs was a third of a short command's own time. CommonJS itself
// too: an ES module entry costs every call the start of Node's ESM loader (~7 ms). A cache V8
// rejects (another Node version, other V8 flags) costs only that: the script compiles as usual.
'use strict';
const { readFileSync } = require('node:fs');
const path = require('node:path');
const { Script } = require('node:vm');

const BUNDLE = path.join(__dirname, 'bundle', 'dopq.cjs');
const CODE_CACHE = `${BUNDLE}.cache`;

/** The bundle's exports ({ main }), and the script, from which the warm-up takes the cache. */
function loadBundle() {
  const source = readFileSync(BUNDLE, 'utf8');
  let cachedData;
  try {
    cachedData = readFileSync(CODE_CACHE);
  } catch {
    cachedData = undefined; // none built: compile as usual
  }
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
  const script = new Script(wrapped, { filename: BUNDLE, cachedData });
  const bundle = { exports: {} };
  script.runInThisContext()(bundle.exports, require, bundle, BUNDLE, path.dirname(BUNDLE));
  return { exports: bundle.exports, script };
}

/** Run `dopq` with this process's arguments; the exit code is main()'s. */
function run() {
  loadBundle()
    .exports.main(process.argv)
    .then((code) => {
      process.exitCode = code;
    });
}

module.exports = { loadBundle, run, CODE_CACHE };
if (require.main === module) run();
