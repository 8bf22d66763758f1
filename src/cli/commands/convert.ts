// `dopq convert container_config.json`: the dopq manifest equivalent to a DoPQ job, printed, so
// users migrating from DoPQ can keep a manifest instead of a zip.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { convertDopqConfig } from '../../core/job/dopq-compat.js';
import { ExitCode, InvalidDocumentError } from '../../core/errors.js';
import { currentCaller } from '../../io/host/users.js';
import { readUserFile } from '../../io/files/user-file.js';
import type { CommandContext } from '../context.js';

// DoPQ's job configs are a few hundred bytes; anything near this is not one.
const DOPQ_CONFIG_MAX_BYTES = 1024 * 1024;

export async function convertCommand(ctx: CommandContext, file: string): Promise<number> {
  const text = await readUserFile(file, { what: 'the DoPQ config', maxBytes: DOPQ_CONFIG_MAX_BYTES });
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
