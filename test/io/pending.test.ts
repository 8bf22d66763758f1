// Jobs still in the intake (io/spool/pending.ts), as `q` shows them before the daemon reads
// them: the owner from each file's uid, the details only where the caller may read the file,
// and nothing for entries the daemon would refuse unread (links, FIFOs, folders, other names).
import { execFileSync } from 'node:child_process';
import { chmod, chown, lstat, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { encodeEnvelope, type Envelope } from '../../src/core/job/envelope.js';
import type { QueueView } from '../../src/core/view/queue-view.js';
import { pendingJobs } from '../../src/io/spool/pending.js';
import { alice, bob, type UnixUser } from '../helpers/users.js';
import { makeTempSpool, type TempSpool } from './temp-spool.js';

/** A uid no account has: q names it `uid<N>`. */
const NOBODY = 4242;
const SUBMITTED = Date.parse('2026-01-02T03:04:05Z');

/** A job file as push writes it (mode 0600), owned by `uid`. */
async function dropJob(spool: TempSpool, name: string, envelope: Envelope | string, uid = 0): Promise<string> {
  const file = path.join(spool.paths.intake, name);
  await writeFile(file, typeof envelope === 'string' ? envelope : encodeEnvelope(envelope), { mode: 0o600 });
  await chown(file, uid, uid);
  return file;
}

const envelope = (id: number, manifest: string, source = '/home/someone/job.yaml'): Envelope => ({
  id,
  submitted_at: SUBMITTED,
  source,
  manifest,
});

test('pending jobs: name and GPUs from what push wrote, the owner from the file, bad files by owner only', async (t) => {
  const spool = await makeTempSpool(t);
  await dropJob(spool, '5.job', envelope(5, 'name: train\nimage: busybox\ngpus: 2\n'));
  await dropJob(spool, '6.job', envelope(6, 'image: busybox\n', '/home/someone/exp-1.yaml'));
  const garbage = await dropJob(spool, '7.job', 'not a job file');
  const foreign = await dropJob(spool, '8.job', envelope(8, 'name: theirs\nimage: busybox\n'), NOBODY);
  // Entries the daemon refuses unread, and names push never writes: not pending jobs.
  await symlink(path.join(spool.paths.intake, '5.job'), path.join(spool.paths.intake, '9.job'));
  execFileSync('mkfifo', [path.join(spool.paths.intake, '10.job')]); // never opened: q must not block
  await mkdir(path.join(spool.paths.intake, '11.job'));
  for (const name of ['012.job', 'x.job', '.13.job.0a1b2c', '14.ctx', '15.req', '0.job'])
    await dropJob(spool, name, envelope(16, 'name: stray\nimage: busybox\n'));

  const jobs = (await pendingJobs(spool.paths.intake)).sort((a, b) => a.id - b.id);
  t.deepEqual(jobs, [
    { id: 5, uid: 0, user: 'root', submitted_at: SUBMITTED, name: 'train', gpus_requested: 2 },
    { id: 6, uid: 0, user: 'root', submitted_at: SUBMITTED, name: 'exp-1' },
    // Not a job file: listed by its owner and time until the daemon rejects it.
    { id: 7, uid: 0, user: 'root', submitted_at: (await lstat(garbage)).mtimeMs },
    // Readable here (root), so with its details; an owner without an account is named by uid.
    { id: 8, uid: NOBODY, user: `uid${NOBODY}`, submitted_at: SUBMITTED, name: 'theirs' },
  ]);
  t.not((await lstat(foreign)).mtimeMs, SUBMITTED, 'the time comes from the job file, not its mtime');
});

test('an intake that does not exist lists no pending jobs', async (t) => {
  const spool = await makeTempSpool(t);
  t.deepEqual(await pendingJobs(path.join(spool.paths.intake, 'missing')), []);
});

test("q before any daemon ran: another user's job by owner only, a bad file as a job of its owner", async (t) => {
  const spool = await makeTempSpool(t);
  const [a, b] = [alice(), bob()];
  const push = async (user: UnixUser, name: string, gpus: number) => {
    const manifest = path.join(spool.dir, `${name}.yaml`);
    await writeFile(manifest, `name: ${name}\nimage: busybox\ngpus: ${gpus}\n`, { mode: 0o644 });
    const result = await spool.cli(['push', '--json', manifest], { user });
    t.is(result.code, 0, result.stderr);
    return (JSON.parse(result.stdout) as { id: number }).id;
  };
  const hers = await push(a, 'hers', 2);
  const his = await push(b, 'his', 1);
  await dropJob(spool, '40.job', 'not a job file', a.uid);
  execFileSync('mkfifo', [path.join(spool.paths.intake, '41.job')]);
  await chmod(path.join(spool.paths.intake, '41.job'), 0o666);

  const q = async (user?: UnixUser) => {
    const result = await spool.cli(['q', '--json', '--all'], user ? { user } : {});
    t.is(result.code, 0, result.stderr);
    const view = JSON.parse(result.stdout) as QueueView;
    return view.jobs.map((job) => ({
      id: job.id,
      user: job.user,
      name: job.name,
      state: job.state,
      gpus: job.gpus_requested,
      ingested: job.ingested,
    }));
  };
  const shown = (id: number, user: UnixUser, name: string, gpus: number) => ({
    id,
    user: user.name,
    name,
    state: 'queued',
    gpus,
    ingested: false,
  });
  // bob reads his own file only: alice's job and her bad file show by owner, name unknown.
  t.deepEqual(await q(b), [shown(hers, a, '?', 0), shown(his, b, 'his', 1), shown(40, a, '?', 0)]);
  t.deepEqual(await q(a), [shown(hers, a, 'hers', 2), shown(his, b, '?', 0), shown(40, a, '?', 0)]);
  t.deepEqual(await q(), [shown(hers, a, 'hers', 2), shown(his, b, 'his', 1), shown(40, a, '?', 0)], 'root reads every file');
});

test('a job file over the size cap is listed by its owner only, never read whole', async (t) => {
  const spool = await makeTempSpool(t);
  const big = `name: big\nimage: busybox\nenv:\n  PAD: "${'x'.repeat(4000)}"\n`;
  await dropJob(spool, '5.job', envelope(5, big));
  await dropJob(spool, '6.job', envelope(6, 'name: small\nimage: busybox\n'));
  const file = path.join(spool.paths.intake, '5.job');
  const jobs = (await pendingJobs(spool.paths.intake, 2000)).sort((a, b) => a.id - b.id);
  t.deepEqual(jobs, [
    { id: 5, uid: 0, user: 'root', submitted_at: (await lstat(file)).mtimeMs },
    { id: 6, uid: 0, user: 'root', submitted_at: SUBMITTED, name: 'small' },
  ]);
  t.like(
    (await pendingJobs(spool.paths.intake, 8000)).find((job) => job.id === 5),
    { name: 'big' },
    'read under a larger cap',
  );
});

test('a job named by a hostile file name is shown cut to a name: no escape, newline or bidi override reaches q', async (t) => {
  const spool = await makeTempSpool(t);
  const hostile = '/x/\u001b[2J\u001b[H\u001b[31mPWNED\u001b[0m\n  9 dopq-alice fake-row done\n\u202eevil.yaml';
  await dropJob(spool, '5.job', envelope(5, 'image: busybox\n', hostile));
  const [job] = await pendingJobs(spool.paths.intake);
  t.is(job?.name, '__2J__H__31mPWNED__0m___9_dopq-alice_fake-row_done__evil');
});
