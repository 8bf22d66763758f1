// Where the config comes from: --config, then DOPQ_CONFIG, then /etc/dopq/dopq.yaml, then the
// copy bundled with this package (etc/dopq.yaml).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseConfig, type Config } from '../../core/config/config.js';
import { ExitCode } from '../../core/errors.js';
import { packageRoot } from './package-root.js';
import { readUserFile } from './user-file.js';

export const SYSTEM_CONFIG = '/etc/dopq/dopq.yaml';
/**
 * The config used when none is named (found from package.json: a fixed climb from this module
 * broke when it moved). In a clone (it has tsconfig.json), the demo's, with its spool beside
 * it; in an installed package, the server template's, with its spool in /var/spool/dopq, never
 * one inside node_modules.
 */
export const bundledConfig = () => {
  const root = packageRoot()?.root ?? '/nonexistent';
  return path.join(root, 'etc', existsSync(path.join(root, 'tsconfig.json')) ? 'dopq.yaml' : 'dopq.server.yaml');
};

export function configPath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return findConfig(flag, env).file;
}

/** The config file and the rule that chose it (for `dopq doctor`). */
export function findConfig(flag: string | undefined, env: NodeJS.ProcessEnv): { file: string; rule: string } {
  if (flag) return { file: path.resolve(flag), rule: '--config' };
  if (env['DOPQ_CONFIG']) return { file: path.resolve(env['DOPQ_CONFIG']), rule: '$DOPQ_CONFIG' };
  if (existsSync(SYSTEM_CONFIG)) return { file: SYSTEM_CONFIG, rule: `${SYSTEM_CONFIG} exists` };
  return { file: bundledConfig(), rule: `the bundled copy: no --config, $DOPQ_CONFIG or ${SYSTEM_CONFIG}` };
}

// A config is a page of YAML; a file this big was named by mistake.
const CONFIG_MAX_BYTES = 1024 * 1024;

export async function loadConfig(file: string): Promise<Config> {
  const text = await readUserFile(file, {
    what: 'the config',
    maxBytes: CONFIG_MAX_BYTES,
    exitCode: ExitCode.config,
    hint: 'pass --config FILE or set DOPQ_CONFIG',
  });
  return parseConfig(text, file);
}
