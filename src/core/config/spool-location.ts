// Where a spool must not go: under /etc. A relative `spool:` is relative to the config's folder,
// so a config written for a clone (`spool: ../spool`) copied to /etc/dopq/ would put the
// queue, its logs and users' job files into /etc/spool.
import path from 'node:path';
import type { Issue } from '../errors.js';
import { readYaml } from '../document/yaml-source.js';

/** The spool of a config without `spool:`, and the one an installed server uses. */
export const SYSTEM_SPOOL = '/var/spool/dopq';

const FORBIDDEN_ROOTS = ['/etc'];

/** Why the resolved `spool` cannot be used, with the line of `spool:` in the config's text; undefined if it can. */
export function spoolLocationIssue(spool: string, configText: string): Issue | undefined {
  const resolved = path.posix.normalize(spool);
  const root = FORBIDDEN_ROOTS.find((forbidden) => resolved === forbidden || resolved.startsWith(`${forbidden}/`));
  if (root === undefined) return undefined;
  const yaml = readYaml(configText);
  const written = yaml.ok ? (yaml.source.value as Record<string, unknown> | null)?.['spool'] : undefined;
  const line = yaml.ok && written !== undefined ? yaml.source.lineOf(['spool']) : undefined;
  const relative = typeof written === 'string' && !path.posix.isAbsolute(written);
  return {
    path: 'spool',
    ...(line === undefined ? {} : { line }),
    message:
      `${resolved} is under ${root}, which holds configuration, not a queue` +
      (relative ? ` (\`${written}\` is relative to the config's folder)` : '') +
      `; use an absolute path such as ${SYSTEM_SPOOL}`,
  };
}
