// Docker's JSON progress as the build and load read it: items split across chunks, and a line
// that is not JSON ends the read with an error rather than throwing to the process.
import { PassThrough } from 'node:stream';
import test from 'ava';
import Docker from 'dockerode';
import { followProgress, type ProgressItem } from '../../src/io/docker/progress.js';

// Never connected: followProgress only uses its modem's parser.
const docker = new Docker({ socketPath: '/nonexistent/docker.sock' });

function feed(chunks: (string | Error)[]): PassThrough {
  const stream = new PassThrough();
  void (async () => {
    for (const chunk of chunks) {
      await new Promise((resolve) => setImmediate(resolve));
      if (chunk instanceof Error) stream.destroy(chunk);
      else stream.write(chunk);
    }
    if (!stream.destroyed) stream.end();
  })();
  return stream;
}

test('items split across chunks arrive whole and in order', async (t) => {
  const items: ProgressItem[] = [];
  const chunks = ['{"stream":"Step 1/2"}\r\n{"str', 'eam":"Step 2/2"}\n', '\n{"error":"bad","errorDetail":{"message":"bad step"}}\r\n'];
  await followProgress(docker, feed(chunks), (item) => items.push(item));
  t.deepEqual(items, [{ stream: 'Step 1/2' }, { stream: 'Step 2/2' }, { error: 'bad', errorDetail: { message: 'bad step' } }]);
});

test('a line that is not JSON rejects the read instead of throwing to the process', async (t) => {
  const items: ProgressItem[] = [];
  const read = followProgress(docker, feed(['{"stream":"a"}\n', 'not json\n', '{"stream":"b"}\n']), (item) => items.push(item));
  await t.throwsAsync(read, { message: /progress holds a line that is not JSON/ });
  t.deepEqual(items, [{ stream: 'a' }]);
});

test('a stream that fails rejects with its error', async (t) => {
  await t.throwsAsync(
    followProgress(docker, feed(['{"stream":"a"}\n', new Error('socket hang up')]), () => {}),
    { message: 'socket hang up' },
  );
});
