// A config for core tests, built by the real parser from a small YAML text.
import { parseConfig, type Config } from '../../src/core/config/config.js';

export function testConfig(extra = ''): Config {
  return parseConfig(
    `spool: /srv/dopq/spool
gpus: [0, 1, 2, 3]
gpu_assignment: env
defaults: {gpus: 1, memory: 1g, cpus: 1, shm: 64m, time_limit: 1h}
limits: {gpus: 4, memory: 8g, cpus: 8, shm: 1g, time_limit: 2d}
mounts: {allowed_roots: [/data]}
${extra}`,
    '/etc/dopq/dopq.yaml',
  );
}
