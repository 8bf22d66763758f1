// What the engine says about itself (`docker version` and `docker info`): its API version, the
// CPUs and memory it gives containers, its root folder and runtimes. For `dopq doctor` and for
// the daemon's figures of the host.
import Docker from 'dockerode';
import type { HostFigures } from '../../core/config/config.js';
import { UnavailableError } from '../../core/errors.js';
import { dockerMessage } from './engine-errors.js';

export interface EngineInfo {
  version: string;
  apiVersion: string;
  /** NCPU and MemTotal: what the engine lets a container ask for. */
  cpus: number;
  memory: number;
  rootDir: string;
  runtimes: string[];
  defaultRuntime: string;
}

export async function readEngineInfo(socketPath: string, timeoutMs = 10_000): Promise<EngineInfo> {
  const docker = new Docker({ socketPath, timeout: timeoutMs });
  try {
    const [version, info] = await Promise.all([docker.version(), docker.info() as Promise<Record<string, unknown>>]);
    return {
      version: version.Version,
      apiVersion: version.ApiVersion,
      cpus: Number(info['NCPU'] ?? 0),
      memory: Number(info['MemTotal'] ?? 0),
      rootDir: String(info['DockerRootDir'] ?? ''),
      runtimes: Object.keys((info['Runtimes'] as Record<string, unknown> | undefined) ?? {}),
      defaultRuntime: String(info['DefaultRuntime'] ?? ''),
    };
  } catch (error) {
    throw new UnavailableError(socketPath, `the Docker engine is not reachable: ${dockerMessage(error)}`, {
      hint: 'start it (as root: scripts/docker-engine.sh), or set docker.socket in the config',
      cause: error,
    });
  }
}

/** The engine's CPUs and memory as host figures, or undefined when it gave none. */
export function engineHostFigures(info: EngineInfo): HostFigures | undefined {
  return info.cpus > 0 && info.memory > 0 ? { cpus: info.cpus, memory: info.memory, source: "the engine's" } : undefined;
}
