// The hardened container of a job, as both backends make it: the single-host daemon's start
// (lifecycle.ts) and a Slurm node's helper (slurm/node-run.ts) call this one function.
import { containerSpec, type ContainerSpec } from '../../core/job/container-spec.js';
import type { JobSpec } from '../../core/job/job.js';
import { accountOf } from '../../io/host/users.js';
import type { DaemonContext } from '../context.js';
import { resolveForUser } from '../images/image-guard.js';
import { forbiddenPaths, outputBind, resolveBinds, StartRefused } from './mounts.js';

/** What making a job's container needs of the daemon (or of the node helper). */
export type ContainerContext = Pick<DaemonContext, 'config' | 'engine' | 'images' | 'instance'>;

/**
 * The create options of `spec`'s container on `gpus`: owner, groups, image and binds resolved on
 * this host now. Throws StartRefused, MountDenied or ImageRefused when the job may not run.
 */
export async function hardenedContainer(
  ctx: ContainerContext,
  spec: JobSpec,
  gpus: readonly string[],
  labels: Readonly<Record<string, string>> = {},
): Promise<ContainerSpec> {
  // Identity from the user database now, not from the manifest or the dropped file's group.
  const account = await accountOf(spec.uid);
  if (!account) throw new StartRefused(`uid ${spec.uid} is no longer a user on this machine`);
  // The container gets the image ID the engine resolved and dopq judged, so no name can be
  // re-pointed between the check and the create.
  const image = await resolveForUser(ctx, spec.uid, spec.image, 'image');
  const owner = { user: account.user, uid: spec.uid, gid: account.gid, groups: [...account.groups.values()] };
  const binds = await resolveBinds(spec.manifest.mounts, ctx.config.mounts.allowed_roots, await forbiddenPaths(ctx.config), owner);
  const output = await outputBind(ctx.config, account.user, spec.uid, account.gid);
  if (output) binds.push(output);
  const groups = ctx.config.container_groups.flatMap((name) => (account.groups.has(name) ? [account.groups.get(name)!] : []));
  return containerSpec({ ...spec, image: image.id }, gpus, ctx.config, ctx.instance, { gid: account.gid, groups, binds }, labels);
}
