// dopq's version, read from its own package.json at run time, so `dopq --version` is what
// npm installed. Found by walking up from this module: the same in dist/src/cli/ and in a
// bundle at dist/src/cli.js.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_NAME = 'dopq';

/** The `version` of the nearest package.json named dopq above `from` (this module by default). */
export function packageVersion(from: string = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const found = readPackage(path.join(dir, 'package.json'));
    if (found?.name === PACKAGE_NAME && typeof found.version === 'string') return found.version;
    if (path.dirname(dir) === dir) return 'unknown';
  }
}

function readPackage(file: string): { name?: unknown; version?: unknown } | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
  } catch {
    return undefined; // none here, or not ours: keep walking up
  }
}
