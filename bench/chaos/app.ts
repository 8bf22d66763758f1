// The harness runs its own copy of the build, so that a rebuild of dist/ in the checkout during
// a run (another terminal, another test run) cannot swap the daemon or the CLI under test.
import { cp, mkdir, symlink, access } from 'node:fs/promises';
import path from 'node:path';
import { CLI } from '../../test/helpers/cli.js';

/** Copy dist/src (and package.json, etc/) under `dir`; returns the copied CLI's path. */
export async function snapshotApp(dir: string): Promise<string> {
  const distSrc = path.dirname(CLI);
  const root = path.resolve(distSrc, '../..');
  await mkdir(path.join(dir, 'dist'), { recursive: true, mode: 0o755 });
  await cp(distSrc, path.join(dir, 'dist/src'), { recursive: true });
  await cp(path.join(root, 'package.json'), path.join(dir, 'package.json')); // "type": "module"
  await cp(path.join(root, 'etc'), path.join(dir, 'etc'), { recursive: true });
  await symlink(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  const cli = path.join(dir, 'dist/src/cli.js');
  await access(cli);
  return cli;
}
