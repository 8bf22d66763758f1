// dopq's version, read from its own package.json at run time, so `dopq --version` is what npm
// installed (io/files/package-root.ts finds it, in dist/ or a bundle alike).
import { packageRoot } from '../io/files/package-root.js';

export function packageVersion(): string {
  return packageRoot()?.version ?? 'unknown';
}
