import test from 'ava';
import { parseConfig, type HostFigures } from '../../src/core/config/config.js';
import { beyondHost, defaultsBeyondHost, fitHost } from '../../src/core/config/fit-host.js';
import { formatIssues } from '../../src/core/errors.js';
import { parseManifest } from '../../src/core/job/manifest.js';
import { testConfig } from './fixtures.js';

const GB = 1024 ** 3;
const small: HostFigures = { cpus: 2, memory: 4 * GB, source: "this host's" };

test('built-in defaults above the host are lowered to it, with a note each', (t) => {
  // The minimal config of the report: the built-in cpus 4 and memory 8g on a 2-CPU, 4 GB host.
  const config = parseConfig('spool: /srv/dopq/spool\ngpus: [0]\ngpu_assignment: env\n', '/etc/dopq/dopq.yaml');
  t.is(config.defaults.cpus, 4);
  const fit = fitHost(config, small);
  t.is(fit.config.defaults.cpus, 2);
  t.is(fit.config.defaults.memory, 4 * GB);
  t.deepEqual(fit.config.host, small);
  t.deepEqual(
    fit.notes.map((note) => [note.key, note.builtIn]),
    [
      ['defaults.cpus', true],
      ['defaults.memory', true],
    ],
  );
  t.regex(fit.notes[0]!.message, /^defaults\.cpus: the built-in 4 is more than this host's 2 CPUs; jobs default to 2$/);
  // Built-in limits above the host are no mistake: the host is the limit.
  t.is(fit.config.limits.cpus, config.limits.cpus);
});

test('defaults and limits the file sets above the host are kept and named with their line', (t) => {
  const config = parseConfig('spool: /srv/dopq/spool\ndefaults:\n  cpus: 3\nlimits:\n  cpus: 16\n  memory: 2g\n', '/etc/dopq/dopq.yaml');
  const fit = fitHost(config, small);
  t.is(fit.config.defaults.cpus, 3);
  t.deepEqual(
    fit.notes.map((note) => note.message),
    [
      "defaults.cpus (line 3): 3 is more than this host's 2 CPUs; a job that does not give cpus cannot start",
      "limits.cpus (line 5): 16 is more than this host's 2 CPUs; jobs are held to what the host has",
    ],
  );
  t.false(fit.notes.some((note) => note.builtIn));
});

test('a config within the host is left as it is, and notes nothing', (t) => {
  const config = testConfig(); // defaults cpus 1, memory 1g; limits cpus 8, memory 8g
  const fit = fitHost(config, { cpus: 8, memory: 16 * GB, source: "the engine's" });
  t.deepEqual(fit.notes, []);
  t.deepEqual(fit.config.defaults, config.defaults);
});

test('a manifest asking for more CPUs or memory than the host has names the field, line and host figure', (t) => {
  const { config } = fitHost(testConfig(), small);
  const result = parseManifest('image: busybox\ncpus: 8\nmemory: 6g\n', config);
  t.false(result.ok);
  if (result.ok) return;
  t.is(
    formatIssues(result.issues),
    "line 2: cpus: 8 is more than this host's 2 CPUs\nline 3: memory: 6g is more than this host's 4 GB of memory",
  );
  // Within the host: fine. Without host figures (a config never fitted): the limits alone.
  t.true(parseManifest('image: busybox\ncpus: 2\nmemory: 4g\n', config).ok);
  t.true(parseManifest('image: busybox\ncpus: 8\n', testConfig()).ok);
});

test('over the config limit too, only the limit is named (one problem per field)', (t) => {
  const { config } = fitHost(testConfig(), small);
  const result = parseManifest('image: busybox\ncpus: 9\n', config);
  t.false(result.ok);
  if (!result.ok) t.is(formatIssues(result.issues), 'line 2: cpus: at most 8 CPUs, got 9');
});

test('beyondHost says why a job (defaults applied) can never start on this host', (t) => {
  t.is(beyondHost({ cpus: 2, memory: GB }, small), undefined);
  t.is(beyondHost({ cpus: 3, memory: GB }, small), "it asks for 3 CPUs, more than this host's 2 CPUs: it can never start here");
  t.is(
    beyondHost({ cpus: 4, memory: 8 * GB }, small),
    "it asks for 4 CPUs and 8 GB of memory, more than this host's 2 CPUs and this host's 4 GB of memory: it can never start here",
  );
});

test('defaultsBeyondHost: what push says of a default the admin set above the host', (t) => {
  t.deepEqual(defaultsBeyondHost({ cpus: 2, memory: GB }, small), []);
  t.deepEqual(defaultsBeyondHost({ cpus: 3, memory: GB }, small), [
    {
      path: 'cpus',
      message: "not given, and the server's default (defaults.cpus: 3) is more than this host's 2 CPUs; give cpus: 2 or less",
    },
  ]);
});
