// A container's output as one stream (stdout and stderr in order): attached before its start,
// or followed from the engine's log for a container started before this daemon.
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';

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

/**
 * The output of a created container from its first byte: resolves once attached. `tty`: the
 * container has a terminal (an interactive job), whose output comes raw, not multiplexed.
 */
export async function attachOutput(docker: Docker, containerId: string, signal: AbortSignal, tty = false): Promise<NodeJS.ReadableStream> {
  // As `docker run` does: attached before the start, so nothing is printed before dopq reads.
  const stream = await docker
    .getContainer(containerId)
    .attach({ stream: true, stdout: true, stderr: true, logs: false, abortSignal: signal } as Docker.ContainerAttachOptions);
  return tty ? stream : demuxed(docker, stream);
}

/** A running container's output as the engine logged it, then followed until it ends. */
export async function followOutput(docker: Docker, containerId: string, signal: AbortSignal, tty = false): Promise<NodeJS.ReadableStream> {
  const stream = (await docker
    .getContainer(containerId)
    .logs({ follow: true, stdout: true, stderr: true, abortSignal: signal })) as NodeJS.ReadableStream;
  return tty ? stream : demuxed(docker, stream);
}
