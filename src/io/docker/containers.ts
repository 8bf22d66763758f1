// A job's container on the engine: create, start, find, inspect its exit, stop, remove.
import type Docker from 'dockerode';
import { containerNamePrefix, type ContainerSpec } from '../../core/job/container-spec.js';
import type { ContainerExit } from '../../core/job/job.js';
import type { JobContainer } from './engine.js';
import { statusOf } from './engine-errors.js';

/** Create the job's container (not started), replacing a stopped one of its earlier tries. */
export async function createContainer(docker: Docker, spec: ContainerSpec): Promise<string> {
  const { name, ...options } = spec;
  // The name may be taken by an earlier try of this very job (a start the engine broke off,
  // a container kept by keep_containers, one dopq is removing right now): never by another
  // job, and never replaced while it runs.
  for (let attempt = 0; ; attempt++) {
    try {
      return (await docker.createContainer({ name, ...options })).id;
    } catch (error) {
      if (statusOf(error) !== 409 || attempt >= 20) throw error;
    }
    const existing = await docker
      .getContainer(name)
      .inspect()
      .catch((error: unknown) => {
        if (statusOf(error) === 404) return undefined; // gone meanwhile: create again
        throw error;
      });
    if (existing?.State.Running) throw new Error(`a container of this job (${name}) is still running`);
    if (existing) {
      await docker
        .getContainer(name)
        .remove({ force: true })
        .catch((error: unknown) => {
          if (statusOf(error) !== 404 && statusOf(error) !== 409) throw error; // 409: a removal already under way
        });
    }
    await new Promise((resolve) => setTimeout(resolve, 100 + attempt * 50));
  }
}

/** Start a created container; on a failure it is removed (unless kept) and the error thrown. */
export async function startCreated(docker: Docker, containerId: string, keepOnFailure = false): Promise<void> {
  const container = docker.getContainer(containerId);
  try {
    await container.start();
  } catch (error) {
    if (statusOf(error) === 304) return; // started already
    if (!keepOnFailure) await container.remove({ force: true }).catch(() => undefined);
    throw error;
  }
}

/** The containers of this instance's jobs. */
export async function listJobContainers(docker: Docker, instance: string): Promise<JobContainer[]> {
  // By name, which only dopq chooses: labels are not proof, since an image's or a build
  // step's labels can say anything (a Dockerfile's LABEL lands on its build containers).
  const prefix = containerNamePrefix(instance);
  const containers = await docker.listContainers({ all: true, filters: { name: [prefix] } });
  return containers.flatMap((c) => {
    const jobId = (c.Names ?? []).map((name) => new RegExp(`^/${prefix}(\\d+)$`).exec(name)?.[1]).find((id) => id !== undefined);
    return jobId === undefined ? [] : [{ id: c.Id, jobId: Number(jobId), running: c.State === 'running', created: c.State === 'created' }];
  });
}

/** How a container ended; undefined while it has not (or when it is gone). */
export async function exitOf(docker: Docker, containerId: string): Promise<ContainerExit | undefined> {
  let info;
  try {
    info = await docker.getContainer(containerId).inspect();
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
  if (info.State.Running || info.State.Status === 'created' || info.State.Restarting) return undefined;
  return {
    exitCode: info.State.ExitCode,
    oomKilled: info.State.OOMKilled,
    finishedAt: Date.parse(info.State.FinishedAt) || Date.now(),
    ...(info.State.Error ? { error: info.State.Error } : {}),
  };
}

export async function stopContainer(docker: Docker, containerId: string, graceSeconds: number): Promise<void> {
  try {
    await docker.getContainer(containerId).stop({ t: Math.ceil(graceSeconds) });
  } catch (error) {
    const code = statusOf(error);
    if (code !== 304 && code !== 404) throw error; // already stopped or gone
  }
}

export async function removeContainer(docker: Docker, containerId: string): Promise<void> {
  try {
    await docker.getContainer(containerId).remove({ force: true });
  } catch (error) {
    const code = statusOf(error);
    if (code !== 404 && code !== 409) throw error; // gone, or removal already in progress
  }
}

/**
 * The containers of this instance's jobs that carry `label` (`key=value`): by name and label both,
 * since a label alone could come from an image. For a Slurm node's epilog.
 */
export async function listLabelledJobContainers(docker: Docker, instance: string, label: string): Promise<string[]> {
  const prefix = containerNamePrefix(instance);
  const containers = await docker.listContainers({ all: true, filters: { name: [prefix], label: [label] } });
  return containers.filter((c) => (c.Names ?? []).some((name) => new RegExp(`^/${prefix}\\d+$`).test(name))).map((c) => c.Id);
}
