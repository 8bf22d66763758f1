// Images on the engine: built from a context, loaded from an archive, inspected, tagged, removed.
import { createReadStream } from 'node:fs';
import type Docker from 'dockerode';
import type { BuildOptions, EngineImage, JobImage } from './engine.js';
import { statusOf } from './engine-errors.js';
import { followProgress } from './progress.js';

/** The engine's build parameters: no network, the job's limits, only the owner's cache. */
function buildParameters(options: BuildOptions, signal: AbortSignal): Docker.ImageBuildOptions {
  return {
    t: options.tag,
    dockerfile: options.dockerfile,
    buildargs: options.args,
    // A name that resolves to nothing still turns the engine's cache into "only these".
    cachefrom: JSON.stringify(options.cacheFrom.length > 0 ? options.cacheFrom : ['dopq-no-cache:none']),
    networkmode: 'none',
    memory: options.memory,
    memswap: options.memory,
    cpuperiod: 100_000,
    cpuquota: Math.max(1000, Math.round(options.cpus * 100_000)),
    ...(options.shm !== undefined ? { shmsize: options.shm } : {}),
    ...(options.pids !== undefined ? { ulimits: JSON.stringify([{ Name: 'nproc', Soft: options.pids, Hard: options.pids }]) } : {}),
    ...(options.cgroupParent !== undefined ? { cgroupparent: options.cgroupParent } : {}),
    rm: true,
    forcerm: true,
    abortSignal: signal,
  } as Docker.ImageBuildOptions;
}

/** Build the context `tar`; resolves with the error Docker reported, if any. */
export async function buildImage(
  docker: Docker,
  tar: string,
  options: BuildOptions,
  onOutput: (text: string) => void,
  signal: AbortSignal,
): Promise<string | undefined> {
  const stream = (await docker.buildImage(createReadStream(tar), buildParameters(options, signal))) as NodeJS.ReadableStream;
  // A failure is an {error, errorDetail} item, not a stream error.
  let failure: string | undefined;
  await followProgress(docker, stream, (item) => {
    if (item.stream) onOutput(item.stream);
    if (item.error !== undefined) {
      failure = item.errorDetail?.message ?? item.error;
      onOutput(`${failure}\n`);
    }
  });
  return failure;
}

/** Load a (cleaned) image archive; resolves with the loaded image ID, or the error Docker reported. */
export async function loadImage(
  docker: Docker,
  archive: NodeJS.ReadableStream,
  onOutput: (text: string) => void,
  signal: AbortSignal,
): Promise<{ id: string } | { failure: string }> {
  const stream = (await docker.loadImage(archive, { abortSignal: signal } as object)) as NodeJS.ReadableStream;
  let failure: string | undefined;
  let loaded: string | undefined;
  await followProgress(docker, stream, (item) => {
    if (item.stream) {
      onOutput(item.stream);
      loaded = /Loaded image ID: (sha256:[a-f0-9]{64})/.exec(item.stream)?.[1] ?? loaded;
    }
    if (item.error !== undefined) failure = item.errorDetail?.message ?? item.error;
  });
  if (failure) return { failure };
  if (!loaded) return { failure: 'the archive held no image (is it a docker save tar?)' };
  return { id: loaded };
}

/** The image a reference names, as the engine resolves it; undefined when there is none. */
export async function inspectImage(docker: Docker, reference: string): Promise<EngineImage | undefined> {
  let info;
  try {
    info = await docker.getImage(reference).inspect();
  } catch (error) {
    // 404: no such image; 400: not a valid reference. Neither is an image to use.
    const code = statusOf(error);
    if (code === 404 || code === 400) return undefined;
    throw error;
  }
  return {
    id: info.Id,
    repoTags: info.RepoTags ?? [],
    repoDigests: info.RepoDigests ?? [],
    layers: info.RootFS?.Layers ?? [],
    parent: info.Parent ?? '',
    onBuild: (info.Config as { OnBuild?: string[] | null } | undefined)?.OnBuild ?? [],
  };
}

export async function listImages(docker: Docker): Promise<{ id: string; repoTags: string[] }[]> {
  return (await docker.listImages()).map((image) => ({ id: image.Id, repoTags: image.RepoTags ?? [] }));
}

export async function tagImage(docker: Docker, id: string, tag: string): Promise<void> {
  const at = tag.lastIndexOf(':');
  await docker.getImage(id).tag({ repo: tag.slice(0, at), tag: tag.slice(at + 1) });
}

/** The job tags of images this instance built or loaded. */
export async function listJobImages(docker: Docker, instance: string): Promise<JobImage[]> {
  // By tag: archives are loaded as they are, without our labels.
  const images = await docker.listImages({ filters: { reference: [`dopq-${instance}/*`] } });
  return images.flatMap((image) =>
    (image.RepoTags ?? []).flatMap((tag) => {
      const job = /:job-(\d+)$/.exec(tag);
      // By tag: removing the tag frees the image only when nothing else names it
      // (a loaded archive may be the very image another tag names).
      return job ? [{ id: tag, jobId: Number(job[1]) }] : [];
    }),
  );
}

export async function removeImage(docker: Docker, id: string): Promise<void> {
  try {
    await docker.getImage(id).remove({ noprune: false });
  } catch (error) {
    const code = statusOf(error);
    if (code !== 404 && code !== 409) throw error; // gone, or a container still uses it
  }
}
