// Where the config comes from: --config, then DOPQ_CONFIG, then /etc/dopq/dopq.yaml, then the
// copy bundled with this package (etc/dopq.yaml).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig, type Config } from '../../core/config/config.js';
import { ExitCode } from '../../core/errors.js';
import { readUserFile } from './user-file.js';

export const SYSTEM_CONFIG = '/etc/dopq/dopq.yaml';
export const BUNDLED_CONFIG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../etc/dopq.yaml');

/** Which rule picked the config: told when it cannot be read, so the fix fits what was typed. */
export type ConfigRule = 'flag' | 'env' | 'system' | 'bundled';

export interface ConfigChoice {
  file: string;
  rule: ConfigRule;
}

export function chooseConfig(flag: string | undefined, env: NodeJS.ProcessEnv): ConfigChoice {
  if (flag) return { file: path.resolve(flag), rule: 'flag' };
  if (env['DOPQ_CONFIG']) return { file: path.resolve(env['DOPQ_CONFIG']), rule: 'env' };
  if (existsSync(SYSTEM_CONFIG)) return { file: SYSTEM_CONFIG, rule: 'system' };
  return { file: BUNDLED_CONFIG, rule: 'bundled' };
}

export function configPath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return chooseConfig(flag, env).file;
}

// The config as the message names it: which rule chose the file.
const CHOSEN_BY: Record<ConfigRule, string> = {
  flag: 'the config named by --config',
  env: 'the config named by $DOPQ_CONFIG',
  system: 'the system config',
  bundled: `the bundled config (used without --config, $DOPQ_CONFIG or ${SYSTEM_CONFIG})`,
};

// What else fits: the next rule down, or how to name another file.
const ALTERNATIVE: Record<ConfigRule, string | undefined> = {
  flag: undefined,
  env: `or unset DOPQ_CONFIG to use ${SYSTEM_CONFIG}`,
  system: 'or pass --config FILE',
  bundled: `or install a config at ${SYSTEM_CONFIG} (see dopq.yaml(5)) or pass --config FILE`,
};

// A config is a page of YAML; a file this big was named by mistake.
const CONFIG_MAX_BYTES = 1024 * 1024;

/** `rule`: how `file` was chosen, when it was (chooseConfig); it shapes the hint of a read error. */
export async function loadConfig(file: string, rule?: ConfigRule): Promise<Config> {
  const text = await readUserFile(file, {
    what: rule ? CHOSEN_BY[rule] : 'the config',
    maxBytes: CONFIG_MAX_BYTES,
    exitCode: ExitCode.config,
    ...(rule && ALTERNATIVE[rule] ? { alternative: ALTERNATIVE[rule] } : {}),
  });
  return parseConfig(text, file);
}
