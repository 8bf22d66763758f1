// Where the config comes from: --config, then DOPQ_CONFIG, then /etc/dopq/dopq.yaml, then the
// copy bundled with this package (etc/dopq.yaml).
import { existsSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { parseConfig, type Config } from '../../core/config/config.js';
import { spoolLocationIssue } from '../../core/config/spool-location.js';
import { ExitCode, InvalidDocumentError } from '../../core/errors.js';
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
  return { file: bundledConfig(), rule: 'bundled' };
}

export function configPath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return chooseConfig(flag, env).file;
}

// The rule as `dopq doctor` shows it beside the file.
const RULE_SHOWN: Record<ConfigRule, string> = {
  flag: '--config',
  env: '$DOPQ_CONFIG',
  system: `${SYSTEM_CONFIG} exists`,
  bundled: `the bundled copy: no --config, $DOPQ_CONFIG or ${SYSTEM_CONFIG}`,
};

/** The config file and the rule that chose it, in words (for `dopq doctor`). */
export function findConfig(flag: string | undefined, env: NodeJS.ProcessEnv): { file: string; rule: string } {
  const choice = chooseConfig(flag, env);
  return { file: choice.file, rule: RULE_SHOWN[choice.rule] };
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
  const config = parseConfig(text, file);
  // parseConfig judges the path as written; a link on the way (a folder linked to /etc) is
  // only seen on the disk, so the spool is judged again where it really is.
  const misplaced = spoolLocationIssue(await realSpoolPath(config.spool), text);
  if (misplaced) throw new InvalidDocumentError('config', file, [misplaced]);
  return config;
}

/** Where `spool` really is: its deepest existing folder resolved through links, plus the rest. */
async function realSpoolPath(spool: string): Promise<string> {
  const rest: string[] = [];
  for (let dir = spool; ; dir = path.dirname(dir)) {
    try {
      return path.join(await realpath(dir), ...[...rest].reverse());
    } catch {
      if (path.dirname(dir) === dir) return spool;
      rest.push(path.basename(dir));
    }
  }
}
