// Reading what an untrusted user left in a shared folder (io/files/safe-read.ts), as root: only
// a plain file with one link and within the limit is read, every check holds for the file that
// was opened, and nothing under the name (a link, a FIFO, a swap) makes the reader follow,
// block or read past the limit.
import { execFileSync, spawn } from 'node:child_process';
import { chown, lchown, link, mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { copyOwnedFile, readOwnedFile, UnsafeFileError } from '../../src/io/files/safe-read.js';

/** Somebody else's uid: what the reader must name as the owner. */
const OWNER = 4242;
const SECRET = 'root:secret\n';

async function folder(t: ExecutionContext): Promise<{ dir: string; at(name: string): string; secret: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'dopq-safe-read-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const secret = path.join(dir, 'secret');
  await writeFile(secret, SECRET, { mode: 0o600 });
  return { dir, at: (name) => path.join(dir, name), secret };
}

/** Both readers refuse `file` with a message matching `message`, naming `uid`, and copy nothing. */
async function bothRefuse(t: ExecutionContext, file: string, message: RegExp, uid?: number): Promise<void> {
  const read = await t.throwsAsync(readOwnedFile(file, 1024), { instanceOf: UnsafeFileError, message });
  const target = `${file}.copy`;
  const copied = await t.throwsAsync(copyOwnedFile(file, 1024, target), { instanceOf: UnsafeFileError, message });
  if (uid !== undefined) t.deepEqual([read?.uid, copied?.uid], [uid, uid], 'the owner of what lies there');
  await t.throwsAsync(stat(target), { code: 'ENOENT' }, 'no copy was started');
}

test('a plain file with one link is read and copied whole, with its owner; a file at the limit is within it', async (t) => {
  const f = await folder(t);
  const file = f.at('job');
  await writeFile(file, 'x'.repeat(1024));
  await chown(file, OWNER, OWNER);
  const read = await readOwnedFile(file, 1024);
  t.like(read, { text: 'x'.repeat(1024), uid: OWNER, gid: OWNER, size: 1024 });
  const copied = await copyOwnedFile(file, 1024, f.at('copy'), 0o600);
  t.like(copied, { uid: OWNER, bytes: 1024 });
  t.is((await stat(f.at('copy'))).mode & 0o777, 0o600);
});

test('a symbolic link is refused, never followed, and its own owner is named', async (t) => {
  const f = await folder(t);
  await symlink(f.secret, f.at('job'));
  await lchown(f.at('job'), OWNER, OWNER);
  await bothRefuse(t, f.at('job'), /is a symbolic link/, OWNER);
});

test('a FIFO is refused without being opened, so the reader never blocks; so is a folder', async (t) => {
  const f = await folder(t);
  execFileSync('mkfifo', [f.at('fifo')]);
  await chown(f.at('fifo'), OWNER, OWNER);
  // No writer ever opens it: a reader that opened it blocking would hang here until the timeout.
  await bothRefuse(t, f.at('fifo'), /is not a regular file/, OWNER);
  await mkdir(f.at('folder'));
  await bothRefuse(t, f.at('folder'), /is not a regular file/);
});

test('a file with a second hard link is refused (its owner may not be who put it there)', async (t) => {
  const f = await folder(t);
  await link(f.secret, f.at('job'));
  await bothRefuse(t, f.at('job'), /has 2 hard links; a job file must have exactly one/, 0);
  const error = await t.throwsAsync(readOwnedFile(f.at('job'), 1024), { instanceOf: UnsafeFileError });
  t.is(error?.kind, 'hard-links', 'callers tell this case apart (push publishes with two links for a moment)');
});

test('a file over the limit is refused before it is read', async (t) => {
  const f = await folder(t);
  await writeFile(f.at('job'), 'x'.repeat(1025));
  await bothRefuse(t, f.at('job'), /is 1025 bytes; the limit is 1024/);
});

test('a file that yields more than its size said is cut off at the limit', async (t) => {
  // Files in /proc say size 0 and then yield their text: the same as a file that grows while
  // it is read, without a race.
  const file = '/proc/self/status';
  t.is((await stat(file)).size, 0);
  await t.throwsAsync(readOwnedFile(file, 64), { instanceOf: UnsafeFileError, message: /grew past the limit of 64 bytes/ });
  const f = await folder(t);
  await t.throwsAsync(copyOwnedFile(file, 64, f.at('copy')), {
    instanceOf: UnsafeFileError,
    message: /grew past the limit of 64 bytes/,
  });
});

test('a name swapped between a file, a symbolic link and a FIFO while it is read: only the file is ever read', async (t) => {
  const f = await folder(t);
  const good = 'image: busybox\n';
  await writeFile(f.at('job'), good);
  // Another process swaps what lies under the name, each time by one rename (as a user could).
  const swapper = spawn(
    'sh',
    ['-c', `while :; do ln -s secret l && mv -fT l job; mkfifo p && mv -fT p job; printf '${good.trim()}\\n' > g && mv -fT g job; done`],
    { cwd: f.dir, stdio: 'ignore' },
  );
  const exited = new Promise((resolve) => swapper.on('close', resolve));
  t.teardown(async () => {
    swapper.kill('SIGKILL');
    await exited;
  });
  const seen = { read: 0, refused: new Map<string, number>() };
  // Until both outcomes have come up, and at least 300 reads.
  for (let reads = 0; reads < 300 || seen.read === 0 || seen.refused.size === 0; reads += 1) {
    try {
      const { text } = await readOwnedFile(f.at('job'), 1024);
      t.is(text, good, 'nothing but the plain file is read');
      seen.read += 1;
    } catch (error) {
      if (!(error instanceof UnsafeFileError)) throw error;
      const why = error.message.split(';')[0]!;
      seen.refused.set(why, (seen.refused.get(why) ?? 0) + 1);
    }
  }
  t.log(`read ${seen.read} times; refused: ${[...seen.refused].map(([why, n]) => `${n}x ${why}`).join('; ')}`);
});
