// `dopq convert container_config.json`: the dopq manifest equivalent to a DoPQ job, printed, so
// users migrating from DoPQ can keep a manifest instead of a zip.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { convertDopqConfig } from '../../core/job/dopq-compat.js';
import { DopqError, ExitCode, InvalidDocumentError } from '../../core/errors.js';
import { currentCaller } from '../../io/host/users.js';
import type { CommandContext } from '../context.js';

export async function convertCommand(ctx: CommandContext, file: string): Promise<number> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new DopqError('no-input', ExitCode.noSuchJob, `cannot read: ${(error as NodeJS.ErrnoException).code}`, file);
  }
  const names = await readdir(path.dirname(path.resolve(file))).catch(() => [] as string[]);
  const dockerfile = names.includes('Dockerfile') ? 'Dockerfile' : names.find((n) => n.includes('Dockerfile'));
  const archive = names.filter((n) => n.endsWith('.tar'));
  const caller = await currentCaller();
  const converted = convertDopqConfig(text, caller.user, {
    ...(dockerfile ? { dockerfile } : {}),
    ...(archive.length === 1 ? { archive: archive[0]! } : {}),
  });
  if (!converted.manifest)
    throw new InvalidDocumentError(
      'manifest',
      file,
      converted.problems.map((message) => ({ path: '', message })),
    );
  const header = [
    `# converted from ${path.basename(file)} by dopq convert; save next to it and dopq push it`,
    ...converted.notes.map((note) => `# ${note}`),
  ];
  ctx.io.out(`${header.join('\n')}\n${stringify(converted.manifest)}`);
  return ExitCode.ok;
}
