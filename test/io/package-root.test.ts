// dopq finds its own package (version, bundled config) by package.json, not by a fixed climb
// from a module: the same from dist/, from wherever npm installed it, or from a bundle.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { bundledConfig, configPath } from '../../src/io/files/config-file.js';
import { findPackageRoot, packageRoot } from '../../src/io/files/package-root.js';

const checkout = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

test('the package root is the folder of package.json named dopq, with its version', async (t) => {
  const { version } = JSON.parse(await readFile(path.join(checkout, 'package.json'), 'utf8')) as { version: string };
  t.deepEqual(packageRoot(), { root: checkout, version });
  t.deepEqual(findPackageRoot(path.join(checkout, 'dist', 'src', 'cli')), { root: checkout, version });
  // node_modules/x/package.json on the way up is not ours: the climb goes on past it.
  t.deepEqual(findPackageRoot(path.join(checkout, 'node_modules', 'yaml', 'dist')), { root: checkout, version });
  t.is(findPackageRoot('/'), undefined);
});

test('without --config, $DOPQ_CONFIG or /etc/dopq/dopq.yaml, the config is the bundled etc/dopq.yaml', (t) => {
  t.is(bundledConfig(), path.join(checkout, 'etc', 'dopq.yaml'));
  t.true(existsSync(bundledConfig()));
  if (!existsSync('/etc/dopq/dopq.yaml')) t.is(configPath(undefined, {}), bundledConfig());
  t.is(configPath(undefined, { DOPQ_CONFIG: 'x.yaml' }), path.resolve('x.yaml'));
});
