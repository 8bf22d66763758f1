// The sudoers rule `dopq slurm-setup` prints, installed for this build and one config, so tests
// run `node-run` through the real sudo exactly as a node's batch script does.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { sudoersLines } from '../../src/core/slurm/sudoers.js';
import { CLI } from './cli.js';

/** slurm.helper for this build: sudo runs node on the bundle (what `dopq` is once installed). */
export const SUDO_HELPER = ['/usr/bin/sudo', '-n', '--', process.execPath, CLI];

/**
 * Install the rule for `configFile` (checked by visudo first); returns a function that removes it.
 * `keepMore`: variables a site's own sudoers keeps as well (e.g. SLURM_CONF, for a slurm.conf
 * outside /etc/slurm), which node-run must not trust.
 */
export function allowNodeRun(configFile: string, keepMore: readonly string[] = []): () => void {
  if (!existsSync('/usr/bin/sudo')) {
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'sudo'], {
      stdio: 'ignore',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  }
  const lines = sudoersLines({ command: process.execPath, args: [CLI] }, configFile);
  const more = keepMore.length > 0 ? [`Defaults!${process.execPath} env_keep += "${keepMore.join(' ')}"`] : [];
  const rule = [...lines, ...more, ''].join('\n');
  // sudo skips files in sudoers.d whose names hold a dot.
  const file = `/etc/sudoers.d/dopq-test-${createHash('sha256').update(`${CLI}\0${configFile}`).digest('hex').slice(0, 12)}`;
  writeFileSync(`${file}-new`, rule, { mode: 0o440 });
  execFileSync('visudo', ['-c', '-q', '-f', `${file}-new`]);
  renameSync(`${file}-new`, file);
  return () => rmSync(file, { force: true });
}
