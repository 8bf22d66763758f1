// Writes test/traces/*.yaml from bench/trace-scenarios.ts: npx tsc && node dist/bench/write-traces.js
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SCENARIOS, scenarioYaml } from './trace-scenarios.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
for (const scenario of SCENARIOS) writeFileSync(path.join(root, 'test/traces', `${scenario.name}.yaml`), scenarioYaml(scenario));
