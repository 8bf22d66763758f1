// What every command gets: the loaded config, its spool paths, and where to write.
import type { Config } from '../core/config/config.js';
import { chooseConfig, loadConfig } from '../io/files/config-file.js';
import { spoolPaths, type SpoolPaths } from '../io/spool/spool.js';

export interface Output {
  /** Text, or bytes already encoded (a cached view printed as it lies on disk). */
  out(text: string | Uint8Array): void;
  err(text: string): void;
  isTTY: boolean;
}

export interface GlobalOptions {
  config?: string;
  debug?: boolean;
}

export interface CommandContext {
  config: Config;
  spool: SpoolPaths;
  io: Output;
  env: NodeJS.ProcessEnv;
}

export async function commandContext(options: GlobalOptions, io: Output, env: NodeJS.ProcessEnv): Promise<CommandContext> {
  const chosen = chooseConfig(options.config, env);
  const config = await loadConfig(chosen.file, chosen.rule);
  return { config, spool: spoolPaths(config.spool), io, env };
}
