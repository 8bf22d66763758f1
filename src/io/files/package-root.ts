// Where dopq's own files are (package.json, the bundled etc/dopq.yaml): the folder of the
// nearest package.json named dopq above this module, so they are found in a clone, wherever npm
// installed the package, and from a bundle of the CLI alike.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_NAME = 'dopq';

export interface PackageRoot {
  root: string;
  version: string;
}

let found: PackageRoot | null | undefined;

/** The package's folder and version; undefined if no package.json named dopq is above this module. */
export function packageRoot(): PackageRoot | undefined {
  if (found === undefined) found = findPackageRoot(path.dirname(fileURLToPath(import.meta.url))) ?? null;
  return found ?? undefined;
}

export function findPackageRoot(from: string): PackageRoot | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const manifest = readPackage(path.join(dir, 'package.json'));
    if (manifest?.name === PACKAGE_NAME) return { root: dir, version: typeof manifest.version === 'string' ? manifest.version : 'unknown' };
    if (path.dirname(dir) === dir) return undefined;
  }
}

function readPackage(file: string): { name?: unknown; version?: unknown } | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
  } catch {
    return undefined; // none here, or not JSON: keep walking up
  }
}
