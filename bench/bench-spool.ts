// A spool and config in a temp folder for the benches, laid out as `dopq init` does: the test
// defaults every bench shares, plus what each bench sets (`config` overrides them).
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { initSpool, spoolPaths, type SpoolPaths } from '../src/io/spool/spool.js';

export interface BenchSpool {
  dir: string;
  configFile: string;
  spool: SpoolPaths;
}

export async function benchSpool(prefix: string, config: Record<string, unknown>): Promise<BenchSpool> {
  const dir = await mkdtemp(path.join(tmpdir(), `dopq-${prefix}-`));
  await chmod(dir, 0o755);
  const configFile = path.join(dir, 'dopq.yaml');
  await writeFile(
    configFile,
    stringify({
      spool: './spool',
      gpu_assignment: 'env',
      defaults: { gpus: 1, memory: '64m', cpus: 0.5, shm: '8m', time_limit: '10m' },
      builds: { min_free: '1m' },
      ...config,
    }),
  );
  const spool = spoolPaths(path.join(dir, 'spool'));
  await initSpool(spool);
  return { dir, configFile, spool };
}
