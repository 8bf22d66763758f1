// A laid-out spool and its config in a temp folder, for io tests: no Docker, no daemon. The
// built CLI runs against it (as root, or as a test user) the way it runs on a real server.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { stringify } from 'yaml';
import { initSpool, spoolPaths, type SpoolPaths } from '../../src/io/spool/spool.js';
import { runCli, type CliOptions, type CliResult } from '../helpers/cli.js';

export interface TempSpool {
  dir: string;
  configFile: string;
  paths: SpoolPaths;
  cli(args: string[], options?: CliOptions): Promise<CliResult>;
}

export async function makeTempSpool(t: ExecutionContext): Promise<TempSpool> {
  const dir = await mkdtemp(path.join(tmpdir(), 'dopq-io-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await chmod(dir, 0o755); // test users read the config and their manifests here
  const configFile = path.join(dir, 'dopq.yaml');
  // min_free: push's disk guard must not depend on this machine's free space.
  const config = { spool: './spool', gpus: [0, 1], admins: [], defaults: { gpus: 1, time_limit: '10m' }, builds: { min_free: '1m' } };
  await writeFile(configFile, stringify(config));
  // What an admin's `dopq init` does.
  const paths = spoolPaths(path.join(dir, 'spool'));
  await initSpool(paths);
  return { dir, configFile, paths, cli: (args, options) => runCli(['--config', configFile, ...args], options) };
}
