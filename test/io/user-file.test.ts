// readUserFile: every command that reads a file the user named refuses the same things the
// same way, `dopq: FILE: ...`, with the caller's exit code where it gives one.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { DopqError } from '../../src/core/errors.js';
import { readUserFile } from '../../src/io/files/user-file.js';

async function tempDir(t: import('ava').ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'dopq-user-file-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function refusal(t: import('ava').ExecutionContext, promise: Promise<unknown>): Promise<DopqError> {
  const error = await t.throwsAsync(promise, { instanceOf: DopqError });
  return error!;
}

const options = { what: 'the manifest', maxBytes: 10, limitName: 'limits.manifest_size' };

test('reads a regular file within the limit', async (t) => {
  const file = path.join(await tempDir(t), 'ok.yaml');
  await writeFile(file, 'image: x\n');
  t.is(await readUserFile(file, options), 'image: x\n');
});

test('a missing file or a folder: cannot read, 66, naming the file, the code in words, and what to do', async (t) => {
  const dir = await tempDir(t);
  const missing = await refusal(t, readUserFile(path.join(dir, 'nope.yaml'), options));
  t.like(missing, {
    exitCode: 66,
    subject: path.join(dir, 'nope.yaml'),
    message: 'cannot read the manifest: no such file',
    hint: 'check the path',
  });
  await mkdir(path.join(dir, 'folder'));
  t.like(await refusal(t, readUserFile(path.join(dir, 'folder'), options)), {
    exitCode: 66,
    message: 'cannot read the manifest: it is a folder',
    hint: 'name a file in it',
  });
});

test('a FIFO is refused at once (65), not waited on; a file over the limit names the limit (65)', async (t) => {
  const dir = await tempDir(t);
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const notRegular = await refusal(t, readUserFile(fifo, options));
  t.is(notRegular.exitCode, 65);
  t.regex(notRegular.message, /^cannot read the manifest: not a regular file/);
  const big = path.join(dir, 'big.yaml');
  await writeFile(big, 'x'.repeat(11));
  t.like(await refusal(t, readUserFile(big, options)), {
    exitCode: 65,
    code: 'too-large',
    message: 'the manifest is 11 bytes; the limit is 10 (limits.manifest_size)',
  });
});

test("the caller's exit code and hint replace the defaults (the config: 78)", async (t) => {
  const dir = await tempDir(t);
  const error = await refusal(
    t,
    readUserFile(path.join(dir, 'dopq.yaml'), { what: 'the config', maxBytes: 10, exitCode: 78, hint: 'pass --config FILE' }),
  );
  t.like(error, { exitCode: 78, message: 'cannot read the config: no such file', hint: 'pass --config FILE' });
});

test('a relative path that is not there names the folder it was looked for in; an alternative is added to the hint', async (t) => {
  const error = await refusal(t, readUserFile('nope.yaml', { ...options, alternative: 'or pass --config FILE' }));
  t.like(error, { subject: 'nope.yaml', hint: `check the path (relative to ${process.cwd()}); or pass --config FILE` });
});
