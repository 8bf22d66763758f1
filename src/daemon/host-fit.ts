// The daemon's config fitted to the host its engine runs on (core/config/fit-host.ts): at start,
// and on every reload. The engine's figures when it answers (its limit is what a start meets),
// else this host's as the daemon sees them; what was lowered or is above the host goes to the log.
import type { Config } from '../core/config/config.js';
import { fitHost } from '../core/config/fit-host.js';
import { engineHostFigures, readEngineInfo } from '../io/docker/engine-info.js';
import { localHostFigures } from '../io/host/host-resources.js';
import type { Logger } from './context.js';

/** `askEngine`: false for an engine that is away, or one that is not Docker (tests). */
export async function fitConfigToHost(config: Config, log: Logger, askEngine: boolean): Promise<Config> {
  const engine = askEngine ? await readEngineInfo(config.docker.socket).catch(() => undefined) : undefined;
  const host = (engine && engineHostFigures(engine)) ?? localHostFigures();
  const fit = fitHost(config, host);
  for (const note of fit.notes) {
    // A default above the host fails every job that does not say; a limit above it only promises
    // more than the host gives, and the host is the tighter limit.
    if (note.builtIn || note.key.startsWith('limits.')) log.info(`config: ${note.message}`);
    else log.error(`config: ${note.message}`);
  }
  return fit.config;
}
