// The Docker engine, behind the few calls the daemon needs. Nothing else imports dockerode.
import { createReadStream } from 'node:fs';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { containerNamePrefix, LABEL_INSTANCE } from '../../core/job/container-spec.js';
import { UnavailableError } from '../../core/errors.js';
import type { DockerEngine } from './engine.js';

interface ProgressItem {
  stream?: string;
  error?: string;
  errorDetail?: { message?: string };
}

/** Docker's newline-delimited JSON progress (build, load), item by item, until the stream ends. */
function followJsonLines(
  stream: NodeJS.ReadableStream,
  onItem: (item: ProgressItem) => void,
  onText: (text: string) => void = () => {},
): Promise<void> {
  let rest = '';
  const take = (line: string) => {
    if (line.trim() === '') return;
    try {
      onItem(JSON.parse(line) as ProgressItem);
    } catch {
      onText(`${line}\n`);
    }
  };
  return new Promise<void>((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      lines.forEach(take);
    });
    const end = () => {
      take(rest);
      rest = '';
      resolve();
    };
    stream.on('end', end);
    stream.on('close', end);
    stream.on('error', reject);
  });
}

/** Docker's own message, without dockerode's "(HTTP code 500) server error -" prefix. */
export function dockerMessage(error: unknown): string {
  const err = error as { json?: { message?: string }; message?: string; reason?: string };
  const text = err.json?.message ?? err.message ?? String(error);
  return text.replace(/^\(HTTP code \d+\)\s*[\w ]*-\s*/, '').trim();
}

// One stream of a container's multiplexed stdout and stderr (no Tty), ended with its source:
// demuxStream never ends its outputs.
function demuxed(docker: Docker, source: NodeJS.ReadableStream): NodeJS.ReadableStream {
  const out = new PassThrough();
  docker.modem.demuxStream(source, out, out);
  const end = () => {
    if (!out.destroyed) out.end();
  };
  source.on('end', end);
  source.on('close', end);
  source.on('error', (error: Error) => out.destroy(error));
  return out;
}

export function createDockerEngine(socketPath: string): DockerEngine {
  const docker = new Docker({ socketPath });

  return {
    async ping() {
      try {
        await docker.ping();
      } catch (error) {
        throw new UnavailableError(socketPath, `the Docker engine is not reachable: ${dockerMessage(error)}`, {
          hint: 'start it (as root: scripts/docker-engine.sh), or set docker.socket in the config',
          cause: error,
        });
      }
    },

    async create(spec) {
      const { name, ...options } = spec;
      // The name may be taken by an earlier try of this very job (a start the engine broke off,
      // a container kept by keep_containers, one dopq is removing right now): never by another
      // job, and never replaced while it runs.
      for (let attempt = 0; ; attempt++) {
        try {
          return (await docker.createContainer({ name, ...options })).id;
        } catch (error) {
          if ((error as { statusCode?: number }).statusCode !== 409 || attempt >= 20) throw error;
        }
        const existing = await docker
          .getContainer(name)
          .inspect()
          .catch((error: { statusCode?: number }) => {
            if (error.statusCode === 404) return undefined; // gone meanwhile: create again
            throw error;
          });
        if (existing?.State.Running) throw new Error(`a container of this job (${name}) is still running`);
        if (existing) {
          await docker
            .getContainer(name)
            .remove({ force: true })
            .catch((error: { statusCode?: number }) => {
              if (error.statusCode !== 404 && error.statusCode !== 409) throw error; // 409: a removal already under way
            });
        }
        await new Promise((resolve) => setTimeout(resolve, 100 + attempt * 50));
      }
    },

    async startCreated(containerId, keepOnFailure = false) {
      const container = docker.getContainer(containerId);
      try {
        await container.start();
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode === 304) return; // started already
        if (!keepOnFailure) await container.remove({ force: true }).catch(() => undefined);
        throw error;
      }
    },

    async list(instance) {
      // By name, which only dopq chooses: labels are not proof, since an image's or a build
      // step's labels can say anything (a Dockerfile's LABEL lands on its build containers).
      const prefix = containerNamePrefix(instance);
      const containers = await docker.listContainers({ all: true, filters: { name: [prefix] } });
      return containers.flatMap((c) => {
        const jobId = (c.Names ?? []).map((name) => new RegExp(`^/${prefix}(\\d+)$`).exec(name)?.[1]).find((id) => id !== undefined);
        return jobId === undefined
          ? []
          : [{ id: c.Id, jobId: Number(jobId), running: c.State === 'running', created: c.State === 'created' }];
      });
    },

    async exitOf(containerId) {
      let info;
      try {
        info = await docker.getContainer(containerId).inspect();
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode === 404) return undefined;
        throw error;
      }
      if (info.State.Running || info.State.Status === 'created' || info.State.Restarting) return undefined;
      return {
        exitCode: info.State.ExitCode,
        oomKilled: info.State.OOMKilled,
        finishedAt: Date.parse(info.State.FinishedAt) || Date.now(),
        ...(info.State.Error ? { error: info.State.Error } : {}),
      };
    },

    async stop(containerId, graceSeconds) {
      try {
        await docker.getContainer(containerId).stop({ t: Math.ceil(graceSeconds) });
      } catch (error) {
        const code = (error as { statusCode?: number }).statusCode;
        if (code !== 304 && code !== 404) throw error; // already stopped or gone
      }
    },

    async remove(containerId) {
      try {
        await docker.getContainer(containerId).remove({ force: true });
      } catch (error) {
        const code = (error as { statusCode?: number }).statusCode;
        if (code !== 404 && code !== 409) throw error; // gone, or removal already in progress
      }
    },

    async buildImage(tar, options, onOutput, signal) {
      const stream = (await docker.buildImage(createReadStream(tar), {
        t: options.tag,
        dockerfile: options.dockerfile,
        buildargs: options.args,
        labels: options.labels,
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
      } as Docker.ImageBuildOptions)) as NodeJS.ReadableStream;
      // A failure is an {error, errorDetail} item, not a stream error.
      let failure: string | undefined;
      await followJsonLines(
        stream,
        (item) => {
          if (item.stream) onOutput(item.stream);
          if (item.error !== undefined) {
            failure = item.errorDetail?.message ?? item.error;
            onOutput(`${failure}\n`);
          }
        },
        onOutput,
      );
      return failure;
    },

    async cgroupDriver() {
      return ((await docker.info()) as { CgroupDriver?: string }).CgroupDriver ?? '';
    },

    async loadImage(archive, onOutput, signal) {
      const stream = (await docker.loadImage(archive, { abortSignal: signal } as object)) as NodeJS.ReadableStream;
      let failure: string | undefined;
      let loaded: string | undefined;
      await followJsonLines(stream, (item) => {
        if (item.stream) {
          onOutput(item.stream);
          loaded = /Loaded image ID: (sha256:[a-f0-9]{64})/.exec(item.stream)?.[1] ?? loaded;
        }
        if (item.error !== undefined) failure = item.errorDetail?.message ?? item.error;
      });
      if (failure) return { failure };
      if (!loaded) return { failure: 'the archive held no image (is it a docker save tar?)' };
      return { id: loaded };
    },

    async inspectImage(reference) {
      let info;
      try {
        info = await docker.getImage(reference).inspect();
      } catch (error) {
        // 404: no such image; 400: not a valid reference. Neither is an image to use.
        const code = (error as { statusCode?: number }).statusCode;
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
    },

    async listImages() {
      return (await docker.listImages()).map((image) => ({ id: image.Id, repoTags: image.RepoTags ?? [] }));
    },

    async tagImage(id, tag) {
      const at = tag.lastIndexOf(':');
      await docker.getImage(id).tag({ repo: tag.slice(0, at), tag: tag.slice(at + 1) });
    },

    async listJobImages(instance) {
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
    },

    async removeImage(id) {
      try {
        await docker.getImage(id).remove({ noprune: false });
      } catch (error) {
        const code = (error as { statusCode?: number }).statusCode;
        if (code !== 404 && code !== 409) throw error; // gone, or a container still uses it
      }
    },

    async attachOutput(containerId, signal) {
      // As `docker run` does: attached before the start, so nothing is printed before dopq reads.
      const stream = await docker
        .getContainer(containerId)
        .attach({ stream: true, stdout: true, stderr: true, logs: false, abortSignal: signal } as Docker.ContainerAttachOptions);
      return demuxed(docker, stream);
    },

    async followOutput(containerId, signal) {
      const stream = (await docker
        .getContainer(containerId)
        .logs({ follow: true, stdout: true, stderr: true, abortSignal: signal })) as NodeJS.ReadableStream;
      return demuxed(docker, stream);
    },

    watchExits(instance, onDie, onError) {
      let stopped = false;
      let since = Math.floor(Date.now() / 1000) - 1;
      let current: NodeJS.ReadableStream | undefined;
      let retry: NodeJS.Timeout | undefined;
      const connect = async () => {
        if (stopped) return;
        try {
          const stream = (await docker.getEvents({
            since,
            filters: { type: ['container'], event: ['die'], label: [`${LABEL_INSTANCE}=${instance}`] },
          })) as unknown as NodeJS.ReadableStream;
          current = stream;
          let buffered = '';
          stream.on('data', (chunk: Buffer) => {
            // A chunk may hold several JSON objects or half of one: split on newlines.
            buffered += chunk.toString('utf8');
            let newline;
            while ((newline = buffered.indexOf('\n')) >= 0) {
              const line = buffered.slice(0, newline).trim();
              buffered = buffered.slice(newline + 1);
              if (!line) continue;
              try {
                const event = JSON.parse(line) as { id?: string; time?: number };
                if (event.time) since = Math.max(since, event.time - 1);
                if (event.id) onDie(event.id);
              } catch {
                // not an event; the reconcile timer covers anything missed
              }
            }
          });
          const reconnect = () => {
            if (stopped || current !== stream) return;
            current = undefined;
            retry = setTimeout(() => void connect(), 1000);
          };
          stream.on('end', reconnect);
          stream.on('error', reconnect);
        } catch (error) {
          onError(error as Error);
          retry = setTimeout(() => void connect(), 2000);
        }
      };
      void connect();
      return () => {
        stopped = true;
        if (retry) clearTimeout(retry);
        const stream = current as unknown as { destroy?: () => void } | undefined;
        current = undefined;
        stream?.destroy?.();
      };
    },
  };
}
