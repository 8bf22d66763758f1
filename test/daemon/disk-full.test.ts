// Disk full, push side: with the spool's file system full, push exits 73 saying nothing was
// queued and what could not be written, leaves no file behind and keeps the job counter; once
// space is freed the next number follows, and a daemon started later takes only whole jobs.
// The spool lies on a real 2 MiB tmpfs (or, where tmpfs cannot be mounted, a loop-mounted ext4).
import { execFileSync, execSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { parseCounter } from '../../src/io/seq.js';
import { initSpool, spoolPaths } from '../../src/io/spool.js';
import { IMAGE, makeSpool, type TestSpool } from '../helpers/spool.js';
import { alice, type UnixUser } from '../helpers/users.js';

/** A test spool whose folder is a small file system of its own; `fill()` takes all its free space. */
async function smallDiskSpool(t: ExecutionContext): Promise<TestSpool & { fill(): Promise<void>; free(): Promise<void>; seq(): Promise<string> }> {
  // min_free 0: the disk guard is tested elsewhere; here the writes themselves must fail well.
  const spool = await makeSpool(t, { gpus: [0], builds: { min_free: 0 } });
  mountSmallDisk(t, spool.dir, spool.spoolDir);
  await initSpool(spoolPaths(spool.spoolDir));
  const filler = path.join(spool.spoolDir, 'filler');
  return Object.assign(spool, {
    async fill() {
      try {
        execFileSync('fallocate', ['-l', '2m', filler], { stdio: 'pipe' });
      } catch {
        // fallocate refuses a length past the free space: the writes below take it.
      }
      // One big file, then small ones for the last blocks (ext4 may need one for the big file's extents).
      for (let i = 0; i < 64 && (await statfs(spool.spoolDir)).bavail > 0; i++) {
        try {
          execSync(`head -c 4m /dev/zero >> ${filler}${i === 0 ? '' : `.${i}`}`, { stdio: 'pipe' });
        } catch {
          // ENOSPC: full, as wanted.
        }
      }
      const info = await statfs(spool.spoolDir);
      if (info.bavail !== 0) throw new Error(`the disk is not full: ${info.bavail} blocks free`);
    },
    async free() {
      for (const name of await readdir(spool.spoolDir)) if (name.startsWith('filler')) await rm(path.join(spool.spoolDir, name));
    },
    seq: () => readFile(spoolPaths(spool.spoolDir).seq, 'latin1'),
  });
}

/** Mount a 2 MiB file system on `target`, unmounted at teardown (before makeSpool removes the folder). */
function mountSmallDisk(t: ExecutionContext, dir: string, target: string): void {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0755', 'tmpfs', target], { stdio: 'pipe' });
  } catch (tmpfsError) {
    // No tmpfs here: an ext4 image on a loop device, without blocks reserved for root.
    const image = path.join(dir, 'disk.img');
    try {
      execFileSync('truncate', ['-s', '4m', image]);
      execFileSync('mkfs.ext4', ['-q', '-m', '0', image], { stdio: 'pipe' });
      execFileSync('mount', ['-o', 'loop', image, target], { stdio: 'pipe' });
      execFileSync('chmod', ['0755', target]);
    } catch (loopError) {
      throw new Error(`cannot mount a small file system here (tmpfs: ${(tmpfsError as Error).message}; loop ext4: ${(loopError as Error).message})`);
    }
  }
  t.teardown(() => {
    try {
      execFileSync('umount', [target], { stdio: 'pipe' });
    } catch {
      execFileSync('umount', ['-l', target], { stdio: 'pipe' }); // a daemon of a failed test still inside
    }
  });
}

// ext4 needs a block for the lock folder, so there push stops one step earlier (tmpfs does not).
const NO_LOCK = "seq/seq: cannot write the lock on the job counter: no space left on the spool's disk; nothing was queued";

/** Every name under the spool, dot-files and locks included, except the fillers. */
async function spoolFiles(spool: TestSpool): Promise<string[]> {
  const names = await readdir(spool.spoolDir, { recursive: true });
  return names.filter((name) => !name.startsWith('filler')).sort();
}

async function writeManifest(spool: TestSpool, name: string, body: string): Promise<string> {
  const folder = path.join(spool.dir, name);
  await mkdir(folder);
  await writeFile(path.join(folder, 'job.yaml'), body);
  return folder;
}

async function pushAs(spool: TestSpool, manifest: string, user: UnixUser) {
  return spool.cli(['push', '--json', manifest], { user });
}

async function pushedId(spool: TestSpool, manifest: string, user: UnixUser): Promise<number> {
  const result = await pushAs(spool, manifest, user);
  if (result.code !== 0) throw new Error(`push failed (${result.code}): ${result.stderr}`);
  return (JSON.parse(result.stdout) as { id: number }).id;
}

test('on a full disk every push exits 73, queues nothing and keeps the counter; after freeing space the next number follows and the daemon runs only whole jobs', async (t) => {
  const spool = await smallDiskSpool(t);
  const a = alice();
  const first = await spool.push({ name: 'before', command: 'true' }, a);
  t.is(first, 1);

  const plain = path.join(await writeManifest(spool, 'plain', `image: ${IMAGE}\ncommand: 'true'\n`), 'job.yaml');
  const build = await writeManifest(spool, 'build', `build: {context: .}\ncommand: 'true'\n`);
  await writeFile(path.join(build, 'Dockerfile'), `FROM ${IMAGE}\nCOPY blob /blob\n`);
  await writeFile(path.join(build, 'blob'), Buffer.alloc(64 * 1024, 7));
  const archive = await writeManifest(spool, 'archive', `image_archive: image.tar\ncommand: 'true'\n`);
  await writeFile(path.join(archive, 'image.tar'), Buffer.alloc(256 * 1024, 1));
  execSync(`chown -R ${a.uid}:${a.gid} ${plain} ${build} ${archive}`);

  await spool.fill();
  const before = await spoolFiles(spool);
  const cases: [string, string, RegExp][] = [
    ['a plain push', plain, new RegExp(`${NO_LOCK}|intake/2\\.job: cannot write the job file: no space left on the spool's disk; nothing was queued`)],
    ['a build push', path.join(build, 'job.yaml'), /intake: cannot write the build context: no space left on the spool's disk; nothing was queued/],
    ['an image_archive push', path.join(archive, 'job.yaml'), /intake: cannot write the copy of the image archive: no space left on the spool's disk; nothing was queued/],
  ];
  for (const [what, manifest, message] of cases) {
    const refused = await pushAs(spool, manifest, a);
    t.is(refused.code, 73, `${what}: ${refused.stderr}`);
    t.regex(refused.stderr, message, what);
    t.regex(refused.stderr, /hint: ask an admin to free space/, what);
    t.is(refused.stdout, '', `${what}: no job number printed`);
    t.deepEqual(await spoolFiles(spool), before, `${what}: no file left anywhere in the spool`);
    t.is(await spool.seq(), '1\n', `${what}: the counter kept its number`);
  }

  // Room for part of them: the context and the archive are cut off half-way, and still nothing stays.
  execFileSync('truncate', ['-s', '-32K', path.join(spool.spoolDir, 'filler')]);
  for (const [what, manifest, message] of cases.slice(1)) {
    const refused = await pushAs(spool, manifest, a);
    t.is(refused.code, 73, `${what}, half-way: ${refused.stderr}`);
    t.regex(refused.stderr, message, `${what}, half-way`);
    t.deepEqual(await spoolFiles(spool), before, `${what}, half-way: no half .ctx or temp left`);
    t.is(await spool.seq(), '1\n', `${what}, half-way: the counter kept its number`);
  }

  await spool.free();
  t.is(await spool.push({ name: 'after', command: 'true' }, a), 2, 'the next number: none was burnt');
  t.is(await pushedId(spool, path.join(build, 'job.yaml'), a), 3, 'the build context packs again');

  const daemon = spool.startDaemon();
  for (const id of [1, 2, 3]) t.is((await spool.waitForJob(id, ['done', 'failed'], 120_000)).state, 'done', `job ${id}`);
  const jobs = (await spool.q()).jobs;
  t.deepEqual(jobs.map((job) => job.id).sort(), [1, 2, 3], 'only the whole jobs, none rejected');
  t.deepEqual(await readdir(path.join(spool.spoolDir, 'intake')), []);
  t.deepEqual(await readdir(path.join(spool.spoolDir, 'rejected')), []);
  await daemon.stop();
});

test('an empty counter on a full disk stays as it was; an empty or damaged counter never goes back below the jobs in use', async (t) => {
  const spool = await smallDiskSpool(t);
  const a = alice();
  const plain = path.join(await writeManifest(spool, 'plain', `image: ${IMAGE}\ncommand: 'true'\n`), 'job.yaml');
  execSync(`chown -R ${a.uid}:${a.gid} ${path.dirname(plain)}`);

  t.is(await spool.seq(), '', 'a new spool starts with an empty counter');
  await spool.fill();
  const before = await spoolFiles(spool);
  const refused = await pushAs(spool, plain, a);
  t.is(refused.code, 73, refused.stderr);
  t.regex(refused.stderr, new RegExp(`${NO_LOCK}|seq/seq: cannot write the job counter: no space left on the spool's disk; nothing was queued`));
  t.deepEqual(await spoolFiles(spool), before);
  t.is(await spool.seq(), '');
  await spool.free();

  const seqFile = spoolPaths(spool.spoolDir).seq;
  t.is(await pushedId(spool, plain, a), 1);
  await writeFile(seqFile, 'garbage');
  t.is(await pushedId(spool, plain, a), 2, 'past the job in the intake');
  await writeFile(seqFile, '');
  t.is(await pushedId(spool, plain, a), 3);
  t.is(await spool.seq(), '3\n', 'repaired');

  // Once the daemon has taken the jobs, the state still knows their ids.
  const daemon = spool.startDaemon();
  await spool.waitForJob(3, ['done']);
  await spool.waitFor('the intake to empty', async () => (await readdir(path.join(spool.spoolDir, 'intake'))).length === 0);
  await daemon.stop();
  await writeFile(seqFile, '');
  t.is(await pushedId(spool, plain, a), 4, 'past the jobs in the state');
  await writeFile(seqFile, '2\n7');
  t.is(await pushedId(spool, plain, a), 5, 'a damaged counter: past the state, not its leading 2');
});

test('parseCounter: a clean counter, and what counts as damaged', (t) => {
  const cases: [string, { value: number; clean: boolean }][] = [
    ['12\n', { value: 12, clean: true }],
    ['12', { value: 12, clean: true }],
    ['', { value: 0, clean: false }],
    ['garbage', { value: 0, clean: false }],
    ['12\n\n', { value: 12, clean: false }],
    ['12x', { value: 12, clean: false }],
    ['9'.repeat(80), { value: 999_999_999_999_999, clean: false }],
  ];
  for (const [text, expected] of cases) t.deepEqual(parseCounter(text), expected, JSON.stringify(text));
});
