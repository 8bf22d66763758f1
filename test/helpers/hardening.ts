// What `docker inspect` must show for every container dopq starts, whatever its manifest said
// (issue 4, item 4). makeSpool checks every container of its spool with this at teardown.
import { execFileSync } from 'node:child_process';
import type Docker from 'dockerode';

export interface HardeningContext {
  /** Roots binds may come from (the test config's mounts.allowed_roots). */
  allowedRoots: string[];
  /** Network modes the config allows. */
  networks: string[];
}

function primaryGid(uid: string): string | undefined {
  try {
    return execFileSync('getent', ['passwd', uid], { encoding: 'utf8' }).split(':')[3];
  } catch {
    return undefined;
  }
}

/** Every way `info` falls short of the hardening; empty when it is all there. */
export function hardeningViolations(info: Docker.ContainerInspectInfo, context: HardeningContext): string[] {
  const problems: string[] = [];
  const host = info.HostConfig as Docker.HostConfig & Record<string, unknown>;
  const env = new Map((info.Config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  const expect = (ok: boolean, what: string) => ok || problems.push(what);

  expect(host.Privileged === false, `Privileged is ${host.Privileged}`);
  expect((host.CapDrop ?? []).includes('ALL'), `CapDrop is ${JSON.stringify(host.CapDrop)}`);
  expect((host.CapAdd ?? []).length === 0, `CapAdd is ${JSON.stringify(host.CapAdd)}`);
  expect((host.SecurityOpt ?? []).includes('no-new-privileges'), `SecurityOpt is ${JSON.stringify(host.SecurityOpt)}`);
  expect(
    !(host.SecurityOpt ?? []).some((o: string) => /unconfined/.test(o)),
    `SecurityOpt unconfines: ${JSON.stringify(host.SecurityOpt)}`,
  );
  expect((host.PidsLimit ?? 0) > 0, `PidsLimit is ${host.PidsLimit}`);
  expect((host.Memory ?? 0) > 0, `Memory is ${host.Memory}`);
  expect(host.PidMode === '' || host.PidMode === undefined, `PidMode is ${host.PidMode}`);
  expect(host.IpcMode === 'private', `IpcMode is ${host.IpcMode}`);
  expect(host['UTSMode'] === '' || host['UTSMode'] === undefined, `UTSMode is ${String(host['UTSMode'])}`);
  expect(host.UsernsMode === '' || host.UsernsMode === undefined, `UsernsMode is ${host.UsernsMode}`);
  expect(context.networks.includes(host.NetworkMode ?? ''), `NetworkMode is ${host.NetworkMode}`);
  expect((host.Devices ?? []).length === 0, `Devices is ${JSON.stringify(host.Devices)}`);

  // Runs as the owner (the uid dopq took from the dropped file) and their primary group.
  const uid = info.Config.Labels?.['dopq.uid'] ?? '?';
  expect(info.Config.User === `${uid}:${primaryGid(uid)}`, `User is ${info.Config.User}, owner uid ${uid}`);

  // Only the GPUs it was given, in either assignment mode; never CUDA_VISIBLE_DEVICES from outside.
  const gpus = env.get('DOPQ_GPUS') ?? '';
  const requests = (host.DeviceRequests ?? []) as { Driver?: string; DeviceIDs?: string[] }[];
  if (requests.length > 0) {
    expect(
      requests.length === 1 && requests[0]!.Driver === 'nvidia' && (requests[0]!.DeviceIDs ?? []).join(',') === gpus,
      `DeviceRequests ${JSON.stringify(requests)} vs DOPQ_GPUS ${gpus}`,
    );
  }
  const visible = env.get('NVIDIA_VISIBLE_DEVICES');
  if (gpus === '') expect(visible === 'void', `a job without GPUs has NVIDIA_VISIBLE_DEVICES=${visible}`);
  else expect(visible === undefined || visible === gpus, `NVIDIA_VISIBLE_DEVICES=${visible} but DOPQ_GPUS=${gpus}`);
  expect(!env.has('CUDA_VISIBLE_DEVICES'), 'CUDA_VISIBLE_DEVICES is set');

  for (const bind of host.Binds ?? []) {
    const source = bind.split(':')[0] ?? '';
    expect(!/docker\.sock/.test(source), `binds the Docker socket: ${bind}`);
    expect(
      context.allowedRoots.some((root) => source === root || source.startsWith(`${root}/`)),
      `bind outside the allowed roots: ${bind}`,
    );
  }
  expect((host.Mounts ?? []).length === 0, `Mounts is ${JSON.stringify(host.Mounts)}`);
  return problems;
}
