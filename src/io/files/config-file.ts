// Where the config comes from: --config, then DOPQ_CONFIG, then /etc/dopq/dopq.yaml, then the
// copy bundled with this package (etc/dopq.yaml).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseConfig, type Config } from '../../core/config/config.js';
import { ExitCode } from '../../core/errors.js';
import { packageRoot } from './package-root.js';
import { readUserFile } from './user-file.js';

export const SYSTEM_CONFIG = '/etc/dopq/dopq.yaml';
/** The demo config in the package (found from package.json: a fixed climb from this module broke when it moved). */
export const bundledConfig = () => path.join(packageRoot()?.root ?? '/nonexistent', 'etc', 'dopq.yaml');

export function configPath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  if (flag) return path.resolve(flag);
  if (env['DOPQ_CONFIG']) return path.resolve(env['DOPQ_CONFIG']);
  if (existsSync(SYSTEM_CONFIG)) return SYSTEM_CONFIG;
  return bundledConfig();
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
