// `dopq push FILE`: validate here for fast feedback, take a job number, publish into the intake.
import { open } from 'node:fs/promises';
import path from 'node:path';
import { encodeEnvelope } from '../../core/envelope.js';
import { DopqError, ExitCode, InvalidDocumentError } from '../../core/errors.js';
import { parseManifest } from '../../core/manifest.js';
import { nextJobId } from '../../io/seq.js';
import { assertSpoolReady, INTAKE_SUFFIX, publish } from '../../io/spool.js';
import type { CommandContext } from '../context.js';

export async function pushCommand(ctx: CommandContext, file: string, options: { json?: boolean }): Promise<number> {
  const text = await readManifest(file, ctx.config.limits.manifest_bytes);
  const stem = path.basename(file).replace(/\.(ya?ml|json)$/i, '');
  const result = parseManifest(text, ctx.config, stem);
  if (!result.ok) throw new InvalidDocumentError('manifest', file, result.issues);
  await assertSpoolReady(ctx.spool);
  const id = await nextJobId(ctx.spool.seq);
  await publish(ctx.spool.intake, `${id}${INTAKE_SUFFIX}`, encodeEnvelope({ id, submitted_at: Date.now(), source: path.resolve(file), manifest: text }));
  ctx.io.out(options.json ? `${JSON.stringify({ id })}\n` : `${id}\n`);
  return ExitCode.ok;
}

async function readManifest(file: string, maxBytes: number): Promise<string> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new DopqError('no-input', ExitCode.noSuchJob, code === 'ENOENT' ? 'no such file' : `cannot read: ${code}`, file);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new DopqError('no-input', ExitCode.badInput, 'not a regular file', file);
    if (stat.size > maxBytes) throw new DopqError('too-large', ExitCode.badInput, `is ${stat.size} bytes; manifests are limited to ${maxBytes}`, file);
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}
