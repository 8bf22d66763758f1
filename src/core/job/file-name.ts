// A job name taken from a file name the user chose (when the manifest names none): shown to
// every user by `dopq q`, so it is cut down to the letters a manifest's `name` may hold.

/** `train.yaml` -> `train`; anything outside [A-Za-z0-9_.-] becomes `_`; at most 64; never empty. */
export function jobNameFromFile(fileName: string): string {
  const stem = fileName.replace(/\.(ya?ml|json)$/i, '');
  const cleaned = stem.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64);
  return cleaned || '?';
}
