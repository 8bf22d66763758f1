// The bad-manifest corpus (test/corpus/bad-manifests): every file is refused with the reason
// its `# expect:` lines name (all of them, in one go), field and line included, by the same
// parser push and the daemon use.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/core/config/config.js';
import { formatIssues } from '../../src/core/errors.js';
import { parseManifest } from '../../src/core/job/manifest.js';
import { CORPUS_DIR as CORPUS, corpusConfig, expectedReason, expectedReasons } from '../corpus/corpus-config.js';

const files = readdirSync(CORPUS)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const config = parseConfig(stringify(corpusConfig('/srv/jobs')), '/etc/dopq/dopq.yaml');

test('the corpus has at least 40 bad manifests, each saying what its rejection must contain', (t) => {
  t.true(files.length >= 40, `${files.length} files`);
  for (const file of files) t.truthy(expectedReason(readFileSync(path.join(CORPUS, file), 'utf8')), file);
});

for (const file of files) {
  test(`refused with its reason: ${file}`, (t) => {
    const text = readFileSync(path.join(CORPUS, file), 'utf8');
    const result = parseManifest(text, config, file.replace(/\.yaml$/, ''), 1001);
    if (result.ok) return t.fail(`accepted: ${JSON.stringify(result.manifest)}`);
    const message = formatIssues(result.issues);
    for (const reason of expectedReasons(text)) t.true(message.includes(reason), `${reason}\nnot in:\n${message}`);
  });
}
