// Disk full, push side: with the spool's file system full, push exits 73 saying nothing was
// queued and what could not be written, and leaves no file behind; once space is freed the
// next number follows (none burnt), and a daemon started later takes only whole jobs.
// The spool lies on a real 2 MiB tmpfs (or, where tmpfs cannot be mounted, a loop-mounted ext4).
import { execFileSync, execSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { parseIdFloor } from '../../src/core/job/job-ids.js';
import { initSpool, spoolPaths } from '../../src/io/spool/spool.js';
import { IMAGE, makeSpool, type TestSpool } from '../helpers/spool.js';
import { alice, type UnixUser } from '../helpers/users.js';

/** A test spool whose folder is a small file system of its own; `fill()` takes all its free space. */
async function smallDiskSpool(
  t: ExecutionContext,
): Promise<TestSpool & { fill(): Promise<void>; free(): Promise<void>; seq(): Promise<string> }> {
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
      throw new Error(
        `cannot mount a small file system here (tmpfs: ${(tmpfsError as Error).message}; loop ext4: ${(loopError as Error).message})`,
        { cause: loopError },
      );
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

test('on a full disk every push exits 73 and queues nothing; after freeing space the next number follows and the daemon runs only whole jobs', async (t) => {
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
    ['a plain push', plain, /intake\/2\.job: cannot write the job file: no space left on the spool's disk; nothing was queued/],
    [
      'a build push',
      path.join(build, 'job.yaml'),
      /intake: cannot write the build context: no space left on the spool's disk; nothing was queued/,
    ],
    [
      'an image_archive push',
      path.join(archive, 'job.yaml'),
      /intake: cannot write the copy of the image archive: no space left on the spool's disk; nothing was queued/,
    ],
  ];
  for (const [what, manifest, message] of cases) {
    const refused = await pushAs(spool, manifest, a);
    t.is(refused.code, 73, `${what}: ${refused.stderr}`);
    t.regex(refused.stderr, message, what);
    t.regex(refused.stderr, /hint: ask an admin to free space/, what);
    // --json: the error as JSON, and no job number.
    t.like(JSON.parse(refused.stdout), { error: { exit_code: 73 } }, `${what}: no job number printed`);
    t.deepEqual(await spoolFiles(spool), before, `${what}: no file left anywhere in the spool`);
    t.is(await spool.seq(), '', `${what}: push never writes the floor (only the daemon does)`);
  }

  // Room for part of them: the context and the archive are cut off half-way, and still nothing stays.
  execFileSync('truncate', ['-s', '-32K', path.join(spool.spoolDir, 'filler')]);
  for (const [what, manifest, message] of cases.slice(1)) {
    const refused = await pushAs(spool, manifest, a);
    t.is(refused.code, 73, `${what}, half-way: ${refused.stderr}`);
    t.regex(refused.stderr, message, `${what}, half-way`);
    t.deepEqual(await spoolFiles(spool), before, `${what}, half-way: no half .ctx or temp left`);
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

test('a missing or damaged floor never makes push go back below the jobs in use; the daemon writes it back', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const a = alice();
  const plain = path.join(await writeManifest(spool, 'plain', `image: ${IMAGE}\ncommand: 'true'\n`), 'job.yaml');
  execSync(`chown -R ${a.uid}:${a.gid} ${path.dirname(plain)}`);
  const seqFile = spoolPaths(spool.spoolDir).seq;
  const seq = () => readFile(seqFile, 'latin1');

  t.is(await seq(), '', 'a new spool starts with an empty floor');
  t.is(await pushedId(spool, plain, a), 1);
  t.is(await pushedId(spool, plain, a), 2, 'past the job in the intake');
  const daemon = spool.startDaemon();
  await spool.waitForJob(2, ['done']);
  await spool.waitFor('the intake to empty', async () => (await readdir(path.join(spool.spoolDir, 'intake'))).length === 0);
  t.is(await seq(), '2\n', 'the daemon wrote the floor before it removed the files');
  await daemon.stop();
  await writeFile(seqFile, '');
  t.is(await pushedId(spool, plain, a), 3, 'an empty floor: past the jobs in the state');
  await writeFile(seqFile, '2\n7');
  t.is(await pushedId(spool, plain, a), 4, 'a damaged floor: past the state and the intake');
  const again = spool.startDaemon();
  await spool.waitForJob(4, ['done']);
  await spool.waitFor('the floor to be written again', async () => (await seq()) === '4\n');
  await again.stop();
});

test('parseIdFloor: what the daemon writes, and what counts as damaged', (t) => {
  const cases: [string, number | undefined][] = [
    ['12\n', 12],
    ['12', 12],
    ['0\n', 0],
    ['', undefined],
    ['garbage', undefined],
    ['12\n\n', undefined],
    ['12x', undefined],
    ['9007199254740991\n', undefined],
    [`${2 ** 31}\n`, undefined],
  ];
  for (const [text, expected] of cases) t.is(parseIdFloor(text), expected, JSON.stringify(text));
});
