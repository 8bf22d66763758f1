// What `dopq push` packs of a build context, as a pure decision over what a walk of the folder
// found: .dockerignore applied as Docker applies it, links and special files refused by name,
// and the config's size and file-count limits. The walk itself is in io/context-pack.ts.
import dockerignoreModule, { type Ignore } from '@balena/dockerignore';

// A CommonJS module whose types declare an ES default export: at run time the import is the function.
type Factory = (options?: { ignorecase?: boolean }) => Ignore;
const dockerignore = ((dockerignoreModule as unknown as { default?: Factory }).default ?? dockerignoreModule) as unknown as Factory;

export interface ContextEntry {
  /** Posix path relative to the context root. */
  path: string;
  kind: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
}

export interface ContextLimits {
  bytes: number;
  files: number;
}

export type ContextPlan = { ok: true; files: ContextEntry[]; bytes: number } | { ok: false; problems: string[] };

/**
 * The files to pack, or every reason not to. `ignoreText` is the context's .dockerignore, if any.
 * Ignored paths are dropped before the checks: a link the user excluded is no problem.
 */
export function planContext(
  entries: readonly ContextEntry[],
  ignoreText: string | undefined,
  dockerfile: string,
  limits: ContextLimits,
): ContextPlan {
  const ignore = dockerignore({ ignorecase: false });
  if (ignoreText !== undefined) ignore.add(ignoreText.split(/\r?\n/));
  // Docker always sends the Dockerfile and .dockerignore, whatever the patterns say.
  const kept = entries.filter((entry) => entry.path === dockerfile || entry.path === '.dockerignore' || !ignore.ignores(entry.path));
  const problems: string[] = [];
  for (const entry of kept) {
    if (entry.path.split('/').includes('..') || entry.path.startsWith('/')) problems.push(`${entry.path}: leaves the context`);
    else if (entry.kind === 'symlink')
      problems.push(
        `${entry.path}: is a symbolic link; dopq packs only plain files and folders (copy the file, or list the link in .dockerignore)`,
      );
    else if (entry.kind === 'other') problems.push(`${entry.path}: is not a plain file or folder`);
  }
  const files = kept.filter((entry) => entry.kind === 'file' || entry.kind === 'dir');
  if (!files.some((entry) => entry.path === dockerfile && entry.kind === 'file'))
    problems.push(`${dockerfile}: no such file in the context`);
  const fileCount = files.filter((entry) => entry.kind === 'file').length;
  const bytes = files.reduce((sum, entry) => sum + (entry.kind === 'file' ? entry.size : 0), 0);
  if (fileCount > limits.files)
    problems.push(
      `the context has ${fileCount} files; the limit is ${limits.files} (builds.context_files; list what the build does not need in .dockerignore)`,
    );
  if (bytes > limits.bytes)
    problems.push(
      `the context is ${bytes} bytes; the limit is ${limits.bytes} (builds.context_size; list what the build does not need in .dockerignore)`,
    );
  return problems.length > 0 ? { ok: false, problems } : { ok: true, files, bytes };
}
