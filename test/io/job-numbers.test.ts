// Job numbers under contention: pushes by several users, released at the same instant against
// one intake with no daemon, each claim a number by an exclusive link (push.ts publishJob,
// spool.ts publish). Every push must get its own number and its own job file; none is lost,
// and no number is skipped that nobody holds.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chown, lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { decodeEnvelope, type Envelope } from '../../src/core/job/envelope.js';
import { CLI } from '../helpers/cli.js';
import { alice, bob, type UnixUser } from '../helpers/users.js';
import { makeTempSpool, type TempSpool } from './temp-spool.js';

// A contender loads the built executable's bundle, says `ready`, and on `go` runs it with its
// arguments: the pushes race in publishing, not in starting node.
const CONTENDER = `
const { createRequire } = await import('node:module');
const [cli, ...args] = process.argv.slice(2);
const { exports: dopq } = createRequire(import.meta.url)(cli).loadBundle();
process.stdout.write('ready\\n');
process.stdin.once('data', async () => {
  process.exitCode = await dopq.main([process.argv[0], cli, ...args]);
});
`;

interface Push {
  name: string;
  user: UnixUser | undefined;
  manifest: string;
}

interface Pushed extends Push {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Start one contender per push, release them together, and collect what each said. */
async function pushTogether(spool: TempSpool, pushes: Push[]): Promise<Pushed[]> {
  const script = path.join(spool.dir, 'contender.mjs');
  await writeFile(script, CONTENDER, { mode: 0o644 });
  const runs = pushes.map((push) => {
    const child = spawn(process.execPath, [script, CLI, '--config', spool.configFile, 'push', '--json', push.manifest], {
      cwd: '/',
      env: { ...process.env, NO_COLOR: '1' },
      ...(push.user ? { uid: push.user.uid, gid: push.user.gid } : {}),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.startsWith('ready\n')) resolve();
      });
      child.on('close', (code) => reject(new Error(`contender exited (${code}) before it was ready: ${stderr}`)));
    });
    const closed = new Promise<Pushed>((resolve) =>
      child.on('close', (code) => resolve({ ...push, code, stdout: stdout.replace('ready\n', ''), stderr })),
    );
    return { child, ready, closed };
  });
  await Promise.all(runs.map((run) => run.ready));
  for (const run of runs) run.child.stdin.end('go\n');
  return Promise.all(runs.map((run) => run.closed));
}

/** Manifests for `count` pushes by root, alice and bob in turn, each job named `<prefix>-<i>`. */
async function manifests(spool: TempSpool, prefix: string, count: number, body: string): Promise<Push[]> {
  const users = [undefined, alice(), bob()];
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const name = `${prefix}-${i}`;
      const manifest = path.join(spool.dir, `${name}.yaml`);
      await writeFile(manifest, `name: ${name}\n${body}`, { mode: 0o644 });
      return { name, user: users[i % users.length], manifest };
    }),
  );
}

/** The job file push wrote for `id`: one link, owned by its pusher, naming its number and job. */
async function jobFile(spool: TempSpool, id: number): Promise<{ uid: number; nlink: number; envelope: Envelope }> {
  const file = path.join(spool.paths.intake, `${id}.job`);
  const info = await lstat(file);
  const envelope = decodeEnvelope(await readFile(file, 'utf8'));
  if ('error' in envelope) throw new Error(`${file}: ${envelope.error}`);
  return { uid: info.uid, nlink: info.nlink, envelope };
}

const idOf = (push: Pushed) => (JSON.parse(push.stdout) as { id: number }).id;
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test('pushes released together: distinct numbers, each with its own job file, none lost, no gap (2 rounds of 10)', async (t) => {
  const spool = await makeTempSpool(t);
  // The daemon took in up to 40; numbers above it are held by what lies in the intake: another
  // user's squatted name, a folder, and a context whose push died before its job file.
  await writeFile(spool.paths.seq, '40\n');
  await writeFile(path.join(spool.paths.intake, '43.job'), 'squatted');
  await chown(path.join(spool.paths.intake, '43.job'), bob().uid, bob().gid);
  await mkdir(path.join(spool.paths.intake, '45.job'));
  await writeFile(path.join(spool.paths.intake, '47.ctx'), 'orphan');
  const squatted = [43, 45, 47];

  const all: Pushed[] = [];
  for (let round = 0; round < 2; round += 1) {
    const started = performance.now();
    const pushed = await pushTogether(spool, await manifests(spool, `r${round}`, 10, 'image: busybox\ncommand: "true"\n'));
    t.log(`round ${round}: 10 pushes released together, all done in ${(performance.now() - started).toFixed(0)} ms`);
    for (const push of pushed) t.is(push.code, 0, `${push.name}: ${push.stderr}`);
    all.push(...pushed);
  }

  const ids = all.map(idOf);
  t.is(new Set(ids).size, ids.length, `every push has its own number: ${ids.join(' ')}`);
  const highest = 40 + ids.length + squatted.length;
  t.deepEqual(
    [...ids, ...squatted].sort((a, b) => a - b),
    range(41, highest),
    'no number left unused below the highest',
  );
  for (const push of all) {
    const id = idOf(push);
    const { uid, nlink, envelope } = await jobFile(spool, id);
    t.is(envelope.id, id, push.name);
    t.regex(envelope.manifest, new RegExp(`^name: ${push.name}\\n`), `${id}.job holds ${push.name}`);
    t.is(uid, push.user?.uid ?? 0, `${id}.job is its pusher's`);
    t.is(nlink, 1, `${id}.job: the temp name is gone`);
  }
  const names = await readdir(spool.paths.intake);
  t.deepEqual(
    names.filter((name) => name.startsWith('.')),
    [],
    'no temp file left behind',
  );
  t.is(names.filter((name) => name.endsWith('.job')).length, ids.length + 2, 'a job file per push, plus the two squatted names');
});

test('build pushes released together: each job file names its own packed context (8 at once)', async (t) => {
  const spool = await makeTempSpool(t);
  const context = path.join(spool.dir, 'ctx');
  await mkdir(context, { mode: 0o755 });
  await writeFile(path.join(context, 'Dockerfile'), 'FROM busybox\nCOPY run.sh /run.sh\n', { mode: 0o644 });
  await writeFile(path.join(context, 'run.sh'), 'echo hello\n', { mode: 0o644 });
  // The manifests lie beside the context folder: `build.context` is relative to the manifest.
  const pushed = await pushTogether(spool, await manifests(spool, 'build', 8, 'build: {context: ctx}\n'));
  for (const push of pushed) t.is(push.code, 0, `${push.name}: ${push.stderr}`);
  const ids = pushed.map(idOf);
  t.deepEqual(
    [...ids].sort((a, b) => a - b),
    range(1, 8),
  );
  for (const push of pushed) {
    const id = idOf(push);
    const { uid, envelope } = await jobFile(spool, id);
    t.regex(envelope.manifest, new RegExp(`^name: ${push.name}\\n`));
    const packed = path.join(spool.paths.intake, `${id}.ctx`);
    const info = await lstat(packed);
    const sha256 = createHash('sha256')
      .update(await readFile(packed))
      .digest('hex');
    t.deepEqual(envelope.context, { file: `${id}.ctx`, bytes: info.size, sha256 }, `${id}.job names its own context, as packed`);
    t.is(info.uid, uid, `${id}.ctx is its pusher's, like the job file`);
    t.is(info.nlink, 1, `${id}.ctx: the packing name is gone`);
  }
  const names = await readdir(spool.paths.intake);
  t.deepEqual(names.filter((name) => name.startsWith('.')).sort(), [], 'no packing or temp file left behind');
  t.is(names.length, 16, 'a job file and a context per push, nothing else');
});

test('arrays and single jobs released together: every job file holds numbers no other holds, none lost (2 rounds of 9)', async (t) => {
  const spool = await makeTempSpool(t);
  const all: Pushed[] = [];
  for (let round = 0; round < 2; round += 1) {
    // Every third push an array of 5 tasks: they claim ranges while the others claim single numbers.
    const pushes = await manifests(spool, `a${round}`, 9, 'image: busybox\ncommand: "true"\n');
    for (const [i, push] of pushes.entries())
      if (i % 3 === 0) await writeFile(push.manifest, `name: ${push.name}\nimage: busybox\ncommand: "true"\narray: 0-4\n`);
    const pushed = await pushTogether(spool, pushes);
    for (const push of pushed) t.is(push.code, 0, `${push.name}: ${push.stderr}`);
    all.push(...pushed);
  }
  const held: number[] = [];
  const files = (await readdir(spool.paths.intake)).filter((name) => name.endsWith('.job'));
  t.is(files.length, all.length, `one job file per push: ${files.join(' ')}`);
  for (const push of all) {
    const { id, last_id } = JSON.parse(push.stdout) as { id: number; last_id?: number };
    const name = last_id === undefined ? `${id}.job` : `${id}-${last_id}.job`;
    t.true(files.includes(name), `${push.name}: ${name}`);
    t.is(push.name.endsWith('0') || push.name.endsWith('3') || push.name.endsWith('6') ? 5 : 1, (last_id ?? id) - id + 1, push.name);
    const envelope = decodeEnvelope(await readFile(path.join(spool.paths.intake, name), 'utf8'));
    t.true(!('error' in envelope) && envelope.manifest.startsWith(`name: ${push.name}\n`), `${name} holds ${push.name}`);
    held.push(...range(id, last_id ?? id));
  }
  t.is(new Set(held).size, held.length, `no number held twice: ${held.sort((a, b) => a - b).join(' ')}`);
});
