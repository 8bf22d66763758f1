// limits.log_size: the engine's own log of every container is bounded, and the marker that ends
// a cut spool log says where and why.
import test from 'ava';
import { containerSpec, engineLogConfig, outputCutMarker } from '../../src/core/job/container-spec.js';
import { parseConfig } from '../../src/core/config/config.js';
import { InvalidDocumentError } from '../../src/core/errors.js';
import { parseManifest } from '../../src/core/job/manifest.js';
import type { JobSpec } from '../../src/core/job/job.js';

const FILE = '/etc/dopq/dopq.yaml';
const host = { gid: 1001, groups: [], binds: [] };

function spec(config: ReturnType<typeof parseConfig>): JobSpec {
  const result = parseManifest('image: a\ngpus: 0\n', config);
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return { id: 7, uid: 1001, user: 'alice', manifest: result.manifest, image: 'a' };
}

test('every container gets a bounded json-file log: max-size limits.log_size, two files', (t) => {
  for (const [yaml, bytes] of [
    ['gpus: [0]\n', 100 * 1024 ** 2],
    ['gpus: [0]\nlimits: {log_size: 1m}\n', 1024 ** 2],
    ['gpus: [0]\nlimits: {log_size: 3g}\n', 3 * 1024 ** 3],
  ] as const) {
    const config = parseConfig(yaml, FILE);
    t.is(config.limits.log_size, bytes, yaml);
    const options = containerSpec(spec(config), [], config, 'inst', host);
    t.deepEqual(options.HostConfig.LogConfig, { Type: 'json-file', Config: { 'max-size': String(bytes), 'max-file': '2' } }, yaml);
  }
});

test('limits.log_size below 1k or not a size is refused with its path', (t) => {
  for (const bad of ['0', '512', 'lots', '-1m']) {
    const error = t.throws(() => parseConfig(`limits: {log_size: ${bad}}\n`, FILE), { instanceOf: InvalidDocumentError }, bad);
    t.true(
      error!.issues.some((issue) => issue.path === 'limits.log_size'),
      `${bad}: ${JSON.stringify(error!.issues)}`,
    );
  }
  t.is(parseConfig('limits: {log_size: 1k}\n', FILE).limits.log_size, 1024);
});

test('engineLogConfig never asks the engine for a max-size it refuses (0)', (t) => {
  t.is(engineLogConfig(0).Config['max-size'], '1024');
  t.is(engineLogConfig(1536.7).Config['max-size'], '1536');
});

test('the cut marker is one line naming the size and the key', (t) => {
  t.is(outputCutMarker(100 * 1024 ** 2), 'dopq: output cut at 100 MB (limits.log_size); the job goes on\n');
  t.is(outputCutMarker(1024 ** 2), 'dopq: output cut at 1 MB (limits.log_size); the job goes on\n');
  t.is(outputCutMarker(1536 * 1024), 'dopq: output cut at 1.5 MB (limits.log_size); the job goes on\n');
  t.is(outputCutMarker(2 * 1024 ** 3), 'dopq: output cut at 2 GB (limits.log_size); the job goes on\n');
  t.is(outputCutMarker(4096), 'dopq: output cut at 4 KB (limits.log_size); the job goes on\n');
});
