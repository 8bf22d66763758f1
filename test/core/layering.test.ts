// core/ stays pure: it never imports the effectful layers or Node modules that do I/O.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const coreDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/core');

test('core/ imports no io, daemon, cli, fs, child_process, dockerode or chokidar', async (t) => {
  const files = (await readdir(coreDir, { recursive: true })).filter((f) => f.endsWith('.js'));
  t.true(files.length > 5);
  for (const file of files) {
    const text = await readFile(path.join(coreDir, file), 'utf8');
    const imports = [...text.matchAll(/from\s+['"]([^'"]+)['"]/g)].map((m) => m[1]!);
    for (const spec of imports) {
      t.false(
        /\/(io|daemon|cli)\//.test(spec) ||
          /^(node:)?(fs|fs\/promises|child_process|net|http)$/.test(spec) ||
          /dockerode|chokidar|proper-lockfile/.test(spec),
        `${file} imports ${spec}`,
      );
    }
  }
});
