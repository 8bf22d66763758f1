// A daemon started with the other backend than its unfinished jobs run under refuses to start
// (78), names them and says how to switch; the state is left as it was.
import { readFile, writeFile } from 'node:fs/promises';
import test from 'ava';
import { stringify } from 'yaml';
import type { JobRecord } from '../../src/core/job/job.js';
import { staticInventory } from '../../src/core/schedule/gpus.js';
import { createStateWriter, emptyState } from '../../src/io/spool/state-store.js';
import { makeTempSpool, type TempSpool } from '../io/temp-spool.js';

const job = (id: number, extra: Partial<JobRecord>): JobRecord => ({
  id,
  user: 'root',
  uid: 0,
  name: `job-${id}`,
  image: 'busybox',
  gpus_requested: 1,
  gpus: [],
  state: 'queued',
  submitted_at: Date.now() - 60_000,
  time_limit: 600,
  ...extra,
});

async function setUp(t: Parameters<typeof makeTempSpool>[0], backend: 'docker' | 'slurm', jobs: JobRecord[]): Promise<TempSpool> {
  const spool = await makeTempSpool(t);
  await writeFile(spool.configFile, stringify({ spool: './spool', gpus: [0, 1], admins: [], backend, builds: { min_free: '1m' } }));
  const writer = createStateWriter(spool.paths.state, (error) => {
    throw error;
  });
  await writer.write({ ...emptyState(), gpus: staticInventory(['0', '1']), jobs });
  return spool;
}

test('backend: slurm over a job the single host still runs: refused, the job named, the state untouched', async (t) => {
  const running = job(2, { state: 'running', container_id: 'a'.repeat(64), gpus: ['0'], started_at: Date.now() - 30_000 });
  const spool = await setUp(t, 'slurm', [running, job(3, {})]);
  const before = await readFile(spool.paths.state, 'utf8');
  const result = await spool.cli(['run', '--once']);
  t.is(result.code, 78, result.stderr);
  t.regex(result.stderr, /backend: slurm, but job 2 still runs under backend: docker/);
  t.regex(result.stderr, /hint: run the daemon with backend: docker until it ends/);
  t.is(await readFile(spool.paths.state, 'utf8'), before);
});

test('backend: docker over jobs handed to Slurm: refused, so the single host never starts them a second time', async (t) => {
  const spool = await setUp(t, 'docker', [job(4, { slurm_job_id: 40 }), job(5, { state: 'running', slurm_job_id: 41, gpus: ['1'] })]);
  const result = await spool.cli(['run', '--once']);
  t.is(result.code, 78, result.stderr);
  t.regex(result.stderr, /backend: docker, but jobs 4, 5 still run under backend: slurm/);
});
