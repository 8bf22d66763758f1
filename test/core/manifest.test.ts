import test from 'ava';
import fc from 'fast-check';
import { formatIssues } from '../../src/core/errors.js';
import { imageAllowed, parseManifest } from '../../src/core/job/manifest.js';
import { testConfig } from './fixtures.js';

const config = testConfig();

test('a full manifest parses with units converted', (t) => {
  const result = parseManifest(
    `name: train-resnet
image: pytorch/pytorch:2.3
command: [python, train.py, --epochs, 10]
gpus: 2
memory: 4g
cpus: 2.5
shm: 256m
env: {SEED: 42, DEBUG: true, NAME: x}
workdir: /work
mounts: ["/data/sets:/sets:ro", "/data/out/alice:/out"]
time_limit: 90m
`,
    config,
  );
  t.true(result.ok);
  if (!result.ok) return;
  t.deepEqual(result.manifest, {
    name: 'train-resnet',
    image: 'pytorch/pytorch:2.3',
    command: ['python', 'train.py', '--epochs', '10'],
    gpus: 2,
    memory: 4 * 1024 ** 3,
    cpus: 2.5,
    shm: 256 * 1024 ** 2,
    env: { SEED: '42', DEBUG: 'true', NAME: 'x' },
    workdir: '/work',
    mounts: [
      { src: '/data/sets', dst: '/sets', readOnly: true },
      { src: '/data/out/alice', dst: '/out', readOnly: false },
    ],
    time_limit: 5400,
    network: 'none',
    requeue: true,
    after: [],
    after_any: [],
    interactive: false,
  });
});

test('defaults come from the config; a string command runs through sh -c; the name falls back to the file stem', (t) => {
  const result = parseManifest('image: busybox\ncommand: echo hi && sleep 1\n', config, 'my-job');
  t.true(result.ok);
  if (!result.ok) return;
  t.is(result.manifest.name, 'my-job');
  t.deepEqual(result.manifest.command, ['/bin/sh', '-c', 'echo hi && sleep 1']);
  t.is(result.manifest.gpus, 1);
  t.is(result.manifest.memory, 1024 ** 3);
  t.is(result.manifest.time_limit, 3600);
});

const bad: [string, string, RegExp][] = [
  ['missing image', 'name: x\n', /^line 1: image: is required \(or build: to build one, or image_archive: to load one\)$/],
  ['unknown field', 'image: a\nprivileged: true\n', /^line 2: privileged: unknown field$/],
  ['gpus a string', 'image: a\ngpus: two\n', /^line 2: gpus: expected a whole number of GPUs, got "two"$/],
  ['gpus fractional', 'image: a\ngpus: 1.5\n', /^line 2: gpus: expected a whole number of GPUs/],
  ['gpus negative', 'image: a\ngpus: -1\n', /^line 2: gpus: cannot be negative/],
  ['gpus over the limit', 'image: a\ngpus: 5\n', /^line 2: gpus: at most 4 GPUs per job on this server, got 5/],
  ['memory unit', 'image: a\nmemory: 32q\n', /^line 2: memory: expected a size such as 512m or 32g/],
  ['memory over the limit', 'image: a\nmemory: 64g\n', /^line 2: memory: at most 8g, got 64g$/],
  // Engine units: nothing the engine would read as 0 ("unlimited", "the default") or refuse.
  [
    'cpus that round to 0 nano CPUs',
    'image: a\ncpus: 0.0000000001\n',
    /^line 2: cpus: at least 0\.01 CPUs \(the engine's finest CPU limit\), got 1e-10$/,
  ],
  ['cpus under 0.01', 'image: a\ncpus: 0.009\n', /^line 2: cpus: at least 0\.01 CPUs/],
  ['cpus zero', 'image: a\ncpus: 0\n', /^line 2: cpus: must be more than 0, got 0$/],
  ['cpus infinite', 'image: a\ncpus: .inf\n', /^line 2: cpus: /],
  ['memory under 6m', 'image: a\nmemory: 1k\n', /^line 2: memory: at least 6m \(the engine's minimum memory limit\), got 1k$/],
  ['memory as a bare small number (bytes)', 'image: a\nmemory: 4096\n', /^line 2: memory: at least 6m .*got 4k$/],
  ['memory zero', 'image: a\nmemory: 0\n', /^line 2: memory: at least 6m/],
  [
    'memory not whole bytes',
    'image: a\nmemory: 1.1g\n',
    /^line 2: memory: must be a whole number of bytes \(1\.5k, not 1\.1k\), got "1\.1g"$/,
  ],
  ['shm zero', 'image: a\nshm: 0\n', /^line 2: shm: at least 1m \(less is a unit slip, and 0 is the engine's 64m default\), got 0b$/],
  ['shm one byte', 'image: a\nshm: 1b\n', /^line 2: shm: at least 1m/],
  ['shm not whole bytes', 'image: a\nshm: 1.5\n', /^line 2: shm: must be a whole number of bytes .*, got 1\.5$/],
  ['time limit format', 'image: a\ntime_limit: soon\n', /^line 2: time_limit: expected a duration/],
  ['time limit over max', 'image: a\ntime_limit: 3d\n', /^line 2: time_limit: at most 172800s/],
  ['reserved env', 'image: a\nenv:\n  NVIDIA_VISIBLE_DEVICES: all\n', /^line 3: env.NVIDIA_VISIBLE_DEVICES: is set by dopq/],
  ['cuda env', 'image: a\nenv:\n  CUDA_VISIBLE_DEVICES: "0"\n', /^line 3: env.CUDA_VISIBLE_DEVICES: is set by dopq/],
  ['bad env name', 'image: a\nenv:\n  1X: y\n', /^line 3: env.1X: an environment variable name/],
  ['env value a map', 'image: a\nenv:\n  X: {a: 1}\n', /^line 3: env.X: expected a string, number or boolean value/],
  ['mount outside roots', 'image: a\nmounts: ["/etc:/etc"]\n', /^line 2: mounts\[0\]: the source must be under \/data, got \/etc$/],
  [
    'mount with ..',
    'image: a\nmounts: ["/data/../etc:/x"]\n',
    /^line 2: mounts\[0\]: the source "\/data\/..\/etc" must be an absolute path without \.\./,
  ],
  ['mount relative', 'image: a\nmounts: ["data:/x"]\n', /must be an absolute path/],
  ['mount mode', 'image: a\nmounts: ["/data:/x:rwx"]\n', /expected src:dst or src:dst:ro/],
  ['network not allowed', 'image: a\nnetwork: host\n', /^line 2: network: allowed here: none; got "host"$/],
  ['name with a slash', 'image: a\nname: ../x\n', /^line 2: name: expected letters/],
  ['workdir relative', 'image: a\nworkdir: work\n', /^line 2: workdir: expected an absolute path/],
  ['empty command list', 'image: a\ncommand: []\n', /^line 2: command: the command list is empty/],
  ['not a map', '- image: a\n', /^line 1: a manifest is a YAML map/],
  ['duplicate key', 'image: a\nimage: b\n', /^line 2: a key appears twice/],
  ['alias', 'image: &x a\nname: *x\n', /YAML aliases \(\*x\) are not allowed/],
  ['syntax error', 'image: [a\n', /YAML syntax error/],
];

for (const [title, text, expected] of bad) {
  test(`rejects: ${title}`, (t) => {
    const result = parseManifest(text, config);
    t.false(result.ok);
    if (result.ok) return;
    const lines = result.issues.map(
      (issue) => `${issue.line === undefined ? '' : `line ${issue.line}: `}${issue.path ? `${issue.path}: ` : ''}${issue.message}`,
    );
    t.true(
      lines.some((line) => expected.test(line)),
      lines.join('\n'),
    );
  });
}

test('every problem is reported, not just the first', (t) => {
  const result = parseManifest('image: a\ngpus: x\nmemory: y\nfoo: 1\n', config);
  t.false(result.ok);
  if (!result.ok) t.deepEqual(result.issues.map((i) => i.line).sort(), [2, 3, 4]);
});

test('property: any text gives a manifest or issues, never a throw', (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (text) => {
      const result = parseManifest(text, config);
      return result.ok ? typeof result.manifest.image === 'string' : result.issues.length > 0;
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test('property: mutated valid manifests never throw, and issues carry lines', (t) => {
  const valid = 'name: x\nimage: busybox\ngpus: 1\nmemory: 1g\nenv:\n  A: b\nmounts: ["/data:/d"]\ntime_limit: 1h\n';
  fc.assert(
    fc.property(fc.nat(valid.length), fc.nat(valid.length), fc.string({ maxLength: 8 }), (at, cut, insert) => {
      const mutated = valid.slice(0, at) + insert + valid.slice(Math.min(valid.length, at + (cut % 6)));
      const result = parseManifest(mutated, config);
      return result.ok || result.issues.every((issue) => issue.message.length > 0);
    }),
    { numRuns: 1000 },
  );
  t.pass();
});

test('image allow-list: * matches any run of characters, the rest literally', (t) => {
  t.true(imageAllowed('nvcr.io/nvidia/pytorch:24.01-py3', ['nvcr.io/nvidia/*']));
  t.false(imageAllowed('nvcrXio/nvidia/pytorch', ['nvcr.io/nvidia/*']), 'the dot is literal');
  t.false(imageAllowed('pytorch/pytorch', ['pytorch/pytorch:*']));
  t.true(imageAllowed('pytorch/pytorch:2.3', ['ubuntu', 'pytorch/pytorch:*']));
  t.false(imageAllowed('evil/pytorch/pytorch:2.3', ['pytorch/pytorch:*']), 'anchored at both ends');
});

test('build: and image_archive: instead of image:, exactly one of the three', (t) => {
  const config = testConfig();
  const built = parseManifest('build: {context: ., args: {PY: 3.11, DEBUG: true}}\n', config);
  t.true(built.ok);
  if (built.ok)
    t.deepEqual(
      [built.manifest.image, built.manifest.build],
      [null, { context: '.', dockerfile: 'Dockerfile', args: { PY: '3.11', DEBUG: 'true' } }],
    );
  const archived = parseManifest('image_archive: images/train.tar\n', config);
  t.true(archived.ok && archived.manifest.image_archive === 'images/train.tar');
  const issues = (text: string) => {
    const result = parseManifest(text, config);
    return result.ok ? 'accepted' : formatIssues(result.issues);
  };
  t.is(issues('image: a\nbuild: {context: .}\n'), 'line 2: build: give one of image, build or image_archive, not image and build');
  t.regex(issues('name: x\n'), /^line 1: image: is required \(or build: to build one, or image_archive: to load one\)$/);
  t.regex(
    issues('build: {context: /srv/code}\n'),
    /^line 1: build.context: expected a path relative to the manifest for the build context folder, not an absolute one/,
  );
  t.regex(
    issues('build: {context: ., dockerfile: ../Dockerfile}\n'),
    /build.dockerfile: expected a path inside the context for the Dockerfile \(relative, without \.\.\)/,
  );
  t.regex(
    issues('build: {context: ., args: {"bad name": 1}}\n'),
    /build.args.bad name: a build argument name has only letters, digits and _/,
  );
  t.regex(issues('build: {context: ., network: host}\n'), /build.network: unknown field/);
});

test('build: ./dir is Compose’s short form of build: {context: ./dir}', (t) => {
  const short = parseManifest('build: ./trainer\n', testConfig());
  t.true(short.ok);
  if (short.ok) t.deepEqual(short.manifest.build, { context: './trainer', dockerfile: 'Dockerfile', args: {} });
  const absolute = parseManifest('build: /srv/code\n', testConfig());
  t.false(absolute.ok);
  if (!absolute.ok)
    t.regex(formatIssues(absolute.issues), /^line 1: build.context: expected a path relative to the manifest .*, not an absolute one/);
  const wrong = parseManifest('build: 3\n', testConfig());
  t.false(wrong.ok);
  if (!wrong.ok) t.regex(formatIssues(wrong.issues), /^line 1: build: expected a folder, or \{context: folder/);
});

test('all problems at once: an unknown field does not hide values over the limits, and it names the field meant', (t) => {
  const text = 'image: a\ncpu: 2\ngpus: 5\nmemory: 64g\nshm: 2g\ntime_limit: 3d\n';
  const result = parseManifest(text, config);
  t.false(result.ok);
  if (result.ok) return;
  t.deepEqual(formatIssues(result.issues).split('\n'), [
    'line 2: cpu: unknown field; did you mean cpus?',
    'line 3: gpus: at most 4 GPUs per job on this server, got 5',
    'line 4: memory: at most 8g, got 64g',
    'line 5: shm: at most 1g, got 2g',
    'line 6: time_limit: at most 172800s (48h) on this server, got 259200s',
  ]);
});

test('a field that fails its type is not also called missing: a bad image is not "image: is required"', (t) => {
  const result = parseManifest('image: "bad image"\ngpus: 9\n', config);
  t.false(result.ok);
  if (result.ok) return;
  const text = formatIssues(result.issues);
  t.regex(text, /line 1: image: expected an image reference/);
  t.regex(text, /line 2: gpus: at most 4 GPUs/);
  t.notRegex(text, /is required/);
});

test('did you mean: the closest known field, within a third of the name; none for a far one', (t) => {
  const messages = (text: string) => {
    const result = parseManifest(`image: a\n${text}`, config);
    return result.ok ? 'accepted' : formatIssues(result.issues);
  };
  t.is(messages('time-limit: 1h\n'), 'line 2: time-limit: unknown field; did you mean time_limit?');
  t.is(messages('Memory: 1g\n'), 'line 2: Memory: unknown field; did you mean memory?');
  t.is(messages('mount: []\n'), 'line 2: mount: unknown field; did you mean mounts?');
  t.is(messages('build2: x\n'), 'line 2: build2: unknown field; did you mean build?');
  t.is(messages('privileged: true\n'), 'line 2: privileged: unknown field');
  t.is(messages('colour: blue\n'), 'line 2: colour: unknown field');
  const nested = parseManifest('build: {context: ., dockerfil: D}\n', config);
  t.is(nested.ok ? 'accepted' : formatIssues(nested.issues), 'line 1: build.dockerfil: unknown field in build; did you mean dockerfile?');
});
