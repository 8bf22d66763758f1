import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The corpus files stay in the source tree; this module runs compiled from dist/test/corpus. */
export const CORPUS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/corpus/bad-manifests');

// The server settings the bad-manifest corpus is judged against, in the unit test (parsed
// directly) and in the daemon test (a real spool). `root` is a folder jobs may mount.
export function corpusConfig(root: string): Record<string, unknown> {
  return {
    gpus: [0, 1, 2, 3],
    gpu_assignment: 'env',
    defaults: { gpus: 1, memory: '128m', cpus: 0.5, shm: '16m', time_limit: '10m' },
    limits: { gpus: 4, memory: '8g', cpus: 8, shm: '1g', time_limit: '2d', manifest_size: '4k' },
    mounts: { allowed_roots: [root, '/data'], output: { host: `${root}/out/{user}`, container: '/outdir' } },
    images: { allowed: ['dopq-busybox:*', 'pytorch/pytorch:*'] },
    network: { default: 'none', allowed: ['none'] },
  };
}

/** A corpus file says what its rejection must contain on its first line: `# expect: ...`. */
export function expectedReason(text: string): string | undefined {
  return /^# expect: (.+)$/m.exec(text)?.[1];
}

/** Every `# expect:` line: a file with many errors must have them all reported in one go. */
export function expectedReasons(text: string): string[] {
  return [...text.matchAll(/^# expect: (.+)$/gm)].map((match) => match[1]!);
}

/** What push exits with for the file: 65 (a bad manifest) unless a `# exit: N` line says (77: permission). */
export function expectedExit(text: string): number {
  return Number(/^# exit: (\d+)$/m.exec(text)?.[1] ?? 65);
}
