// Before a build: every image the Dockerfile names (FROM, COPY --from, RUN --mount from=, the
// ONBUILD triggers it adds and those of the bases it builds on) resolved through the engine and
// judged for the job's owner. Returns how many of the result's layers come from its base.
import { describeReference, referenceRefusals } from '../../core/job/dockerfile-check.js';
import { readDockerfile, readTrigger, type DockerfileReading } from '../../core/job/dockerfile-refs.js';
import type { EngineImage } from '../../io/docker/engine.js';
import type { DaemonContext } from '../context.js';
import { ImageRefused, resolveForUser } from './image-guard.js';

export async function checkBuildReferences(
  ctx: DaemonContext,
  uid: number,
  dockerfile: string,
  text: string,
  args: Record<string, string>,
): Promise<{ baseLayers: number }> {
  const reading = readDockerfile(text, args);
  refuseByText(dockerfile, reading, uid, ctx.config.images.allowed);
  const resolved = new Map<string, EngineImage>();
  for (const ref of reading.refs) {
    const image = await resolveForUser(
      ctx,
      uid,
      ref.name,
      `${dockerfile} line ${ref.line}: ${describeReference(ref).replace(/ \S+$/, '')}`,
    );
    resolved.set(ref.name, image);
    if (ref.kind !== 'from' || ref.viaOnbuild) continue;
    // A base's ONBUILD triggers run in this build, in the stages seen so far.
    const stageIndex = reading.stages.findIndex((stage) => stage.line === ref.line);
    const before = reading.stages.slice(0, Math.max(0, stageIndex));
    for (const trigger of image.onBuild) {
      const triggered = readTrigger(
        trigger,
        before.flatMap((stage) => (stage.name ? [stage.name] : [])),
        before.length,
      );
      const where = `${dockerfile} line ${ref.line}: ONBUILD trigger of ${ref.name}`;
      refuseByText(where, triggered, uid, ctx.config.images.allowed);
      for (const inner of triggered.refs)
        await resolveForUser(ctx, uid, inner.name, `${where}: ${describeReference(inner).replace(/ \S+$/, '')}`);
    }
  }
  return { baseLayers: finalBaseLayers(reading, resolved) };
}

function refuseByText(where: string, reading: DockerfileReading, uid: number, allowed: readonly string[] | null): void {
  const refusals = referenceRefusals(reading, { uid, allowed });
  if (refusals.length === 0) return;
  const text = refusals.map((refusal) => `line ${refusal.line}: ${refusal.message}`).join('; ');
  throw new ImageRefused(`${where}: ${text}`, refusals.some((refusal) => refusal.foreign) ? 'foreign-image' : 'unusable');
}

/** Layers the built image takes from its final stage's base image (0 for scratch). */
function finalBaseLayers(reading: DockerfileReading, resolved: ReadonlyMap<string, EngineImage>): number {
  let base = reading.stages.at(-1)?.base ?? 'scratch';
  for (let hops = 0; base !== null && typeof base === 'object' && 'stage' in base && hops <= reading.stages.length; hops++) {
    base = reading.stages[base.stage]?.base ?? 'scratch';
  }
  if (base === null || base === 'scratch' || !('image' in base)) return 0;
  return resolved.get(base.image)?.layers.length ?? 0;
}
