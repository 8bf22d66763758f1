// `dopq q` on a running daemon prints the view the daemon wrote after its last save
// (state/queue-view.json), and builds its own as soon as that is not a view of what q would read.
import { readFile, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { parse, stringify } from 'yaml';
import type { QueueView } from '../../src/core/view/queue-view.js';
import type { QueueViewBasis } from '../../src/io/spool/queue-view-cache.js';
import { sameGeneration, stateGeneration } from '../../src/io/spool/state-store.js';
import { makeSpool, type TestSpool } from '../helpers/spool.js';

/** The cache's basis and view, once it is the view of the state in place. */
async function currentCache(spool: TestSpool): Promise<{ basis: QueueViewBasis; view: string } | undefined> {
  const text = await readFile(path.join(spool.spoolDir, 'state', 'queue-view.json'), 'utf8').catch(() => '');
  const cut = text.indexOf('\n');
  if (cut < 0) return undefined;
  const basis = JSON.parse(text.slice(0, cut)) as QueueViewBasis;
  const generation = await stateGeneration(path.join(spool.spoolDir, 'state', 'state.json'));
  return generation && sameGeneration(basis.generation, generation) ? { basis, view: text.slice(cut + 1) } : undefined;
}

async function qJson(spool: TestSpool, args: string[] = []): Promise<QueueView> {
  const result = await spool.cli(['q', '--json', ...args]);
  if (result.code !== 0) throw new Error(`q failed (${result.code}): ${result.stderr}`);
  return JSON.parse(result.stdout) as QueueView;
}

test('q prints the daemon’s view of the state in place, the same as its own, and its own once state, intake or config moved on', async (t) => {
  // No timer passes: the state stays one generation until the test moves it.
  const spool = await makeSpool(t, { gpus: [0], rescan_interval: '1h', reconcile_interval: '1h' });
  spool.startDaemon();
  t.is((await spool.cli(['pause'])).code, 0);
  const id = await spool.push({ name: 'real', command: 'true' });
  await spool.waitForJob(id, ['queued']);
  // Quiet for a second: the passes the push and the pause asked for are over.
  const cache = await spool.waitFor('the daemon’s view of the state in place', async () => {
    const current = await currentCache(spool);
    return current && Date.now() - current.basis.at > 1000 ? current : undefined;
  });

  const cached = await qJson(spool);
  const built = await qJson(spool, ['--all']); // --all: always built by q itself
  t.is(cached.generated_at, new Date(cache.basis.at).toISOString(), 'q printed the daemon’s view');
  t.deepEqual({ ...cached, generated_at: '' }, { ...built, generated_at: '' }, 'the view q would have built');
  t.like(
    cached.jobs.find((job) => job.id === id),
    { name: 'real', state: 'queued', waiting_for: 'paused' },
  );

  // A view that says something else, on the same basis: q prints it, so q read it.
  const cacheFile = path.join(spool.spoolDir, 'state', 'queue-view.json');
  const marked = async () =>
    writeFile(cacheFile, `${JSON.stringify(cache.basis)}\n${cache.view.replace('"name":"real"', '"name":"from-the-cache"')}`);
  await marked();
  t.is((await qJson(spool)).jobs.find((job) => job.id === id)!.name, 'from-the-cache');

  // Another config for the same spool (another share): not the view's.
  const otherConfig = path.join(spool.dir, 'other.yaml');
  await writeFile(otherConfig, stringify({ ...(parse(await readFile(spool.configFile, 'utf8')) as object), shares: { root: 3 } }));
  const other = await spool.cli(['--config', otherConfig, 'q', '--json']);
  t.is((JSON.parse(other.stdout) as QueueView).jobs.find((job) => job.id === id)!.name, 'real', 'another config: built');

  // The state file touched (the same bytes, another time): not the generation the view was built from.
  const later = new Date(Date.now() + 5000);
  await utimes(path.join(spool.spoolDir, 'state', 'state.json'), later, later);
  t.is((await qJson(spool)).jobs.find((job) => job.id === id)!.name, 'real', 'another state generation: built');
  await marked();
  t.is((await qJson(spool)).jobs.find((job) => job.id === id)!.name, 'real', 'and the view on the old basis stays unused');

  // The daemon gone, and a job it has not read: q builds its own view.
  t.is((await spool.cli(['shutdown'])).code, 0);
  const pending = await spool.push({ name: 'unread', command: 'true' });
  const shown = await qJson(spool);
  t.deepEqual(
    shown.jobs.map((job) => [job.id, job.name, job.ingested]),
    [
      [id, 'real', true],
      [pending, 'unread', false],
    ],
  );
});
