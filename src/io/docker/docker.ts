// The Docker engine, behind the few calls the daemon needs: this file composes the parts
// (containers, images, output, events) into a DockerEngine. Nothing outside io/docker imports dockerode.
import Docker from 'dockerode';
import { UnavailableError } from '../../core/errors.js';
import {
  createContainer,
  exitOf,
  listJobContainers,
  listLabelledJobContainers,
  removeContainer,
  startCreated,
  stopContainer,
} from './containers.js';
import type { DockerEngine } from './engine.js';
import { dockerMessage } from './engine-errors.js';
import { watchExits } from './events.js';
import { buildImage, inspectImage, listImages, listJobImages, loadImage, removeImage, tagImage } from './images.js';
import { attachOutput, followOutput } from './output.js';
import { attachTerminal, resizeTerminal } from './terminal.js';

export { dockerMessage } from './engine-errors.js';

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
    async cgroupDriver() {
      return ((await docker.info()) as { CgroupDriver?: string }).CgroupDriver ?? '';
    },
    create: (spec) => createContainer(docker, spec),
    startCreated: (containerId, keepOnFailure) => startCreated(docker, containerId, keepOnFailure),
    list: (instance) => listJobContainers(docker, instance),
    exitOf: (containerId) => exitOf(docker, containerId),
    stop: (containerId, graceSeconds) => stopContainer(docker, containerId, graceSeconds),
    remove: (containerId) => removeContainer(docker, containerId),
    buildImage: (tar, options, onOutput, signal) => buildImage(docker, tar, options, onOutput, signal),
    loadImage: (archive, onOutput, signal) => loadImage(docker, archive, onOutput, signal),
    inspectImage: (reference) => inspectImage(docker, reference),
    listImages: () => listImages(docker),
    tagImage: (id, tag) => tagImage(docker, id, tag),
    listJobImages: (instance) => listJobImages(docker, instance),
    removeImage: (id) => removeImage(docker, id),
    attachOutput: (containerId, signal, tty) => attachOutput(docker, containerId, signal, tty),
    followOutput: (containerId, signal, tty) => followOutput(docker, containerId, signal, tty),
    attachTerminal: (containerId, signal) => attachTerminal(docker, containerId, signal),
    resizeTerminal: (containerId, columns, rows) => resizeTerminal(docker, containerId, columns, rows),
    watchExits: (instance, onDie, onError) => watchExits(docker, instance, onDie, onError),
  };
}

/**
 * Remove every container of this instance's jobs labelled `label` (a Slurm node's epilog: the
 * ended Slurm job's); resolves with their ids.
 */
export async function removeLabelledJobContainers(socketPath: string, instance: string, label: string): Promise<string[]> {
  const docker = new Docker({ socketPath });
  const ids = await listLabelledJobContainers(docker, instance, label);
  for (const id of ids) await removeContainer(docker, id);
  return ids;
}
