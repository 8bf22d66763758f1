// An interactive job's terminal on the engine: one hijacked attach that carries the user's keys
// in and the program's output out (a TTY container's output is raw, not multiplexed), and resize.
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';

/** Attach stdin, stdout and stderr of a TTY container, created or running: resolves once attached. */
export async function attachTerminal(docker: Docker, containerId: string, signal: AbortSignal): Promise<Duplex> {
  // Detaching is the client's business (core/session/detach-keys.ts). The engine's own keys
  // cannot be turned off: a sequence nobody types, so that Ctrl-P Ctrl-Q sent raw to the socket
  // cannot cut the daemon off from the program (the engine holds back only a leading Ctrl-^).
  const stream = await docker.getContainer(containerId).attach({
    stream: true,
    stdin: true,
    stdout: true,
    stderr: true,
    logs: false,
    hijack: true,
    detachKeys: 'ctrl-^,ctrl-@,ctrl-^,ctrl-@',
    abortSignal: signal,
  } as Docker.ContainerAttachOptions);
  return stream as unknown as Duplex;
}

export async function resizeTerminal(docker: Docker, containerId: string, columns: number, rows: number): Promise<void> {
  await docker.getContainer(containerId).resize({ w: columns, h: rows });
}
