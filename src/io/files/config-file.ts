// Where the config comes from: --config, then DOPQ_CONFIG, then /etc/dopq/dopq.yaml, then the
// copy bundled with this package (etc/dopq.yaml).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig, type Config } from '../../core/config/config.js';
import { DopqError, ExitCode } from '../../core/errors.js';

export const SYSTEM_CONFIG = '/etc/dopq/dopq.yaml';
export const BUNDLED_CONFIG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../etc/dopq.yaml');

export function configPath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  if (flag) return path.resolve(flag);
  if (env['DOPQ_CONFIG']) return path.resolve(env['DOPQ_CONFIG']);
  if (existsSync(SYSTEM_CONFIG)) return SYSTEM_CONFIG;
  return BUNDLED_CONFIG;
}

export async function loadConfig(file: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new DopqError(
      'bad-config',
      ExitCode.config,
      `cannot read the config: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      file,
      {
        hint: 'pass --config FILE or set DOPQ_CONFIG',
      },
    );
  }
  return parseConfig(text, file);
}
