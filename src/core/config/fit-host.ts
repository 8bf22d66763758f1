// A config against the host it runs on: built-in CPU and memory defaults above what the host has
// are lowered to it; defaults and limits the file sets above it are kept and reported (the
// admin chose them); and the host becomes one more limit no job may ask beyond.
import type { Config, HostFigures } from './config.js';
import type { Issue } from '../errors.js';
import { readableSize } from '../units.js';

export type HostResource = 'cpus' | 'memory';

export interface HostNote {
  /** `defaults.cpus`, `limits.memory`, ... */
  key: string;
  /** Its line in the config, when the file sets it. */
  line?: number;
  /** Built in (and so lowered to the host), or set in the file (kept as it is). */
  builtIn: boolean;
  value: number;
  host: number;
  message: string;
}

export interface HostFit {
  config: Config;
  notes: HostNote[];
}

const RESOURCES: HostResource[] = ['cpus', 'memory'];

/** `2 CPUs`, `1 CPU`, `23.5 GB of memory`: an amount as a message names it. */
export function describeAmount(resource: HostResource, value: number): string {
  return resource === 'cpus' ? `${value} CPU${value === 1 ? '' : 's'}` : `${readableSize(value)} of memory`;
}

/** `this host's 2 CPUs` */
export function hostAmount(host: HostFigures, resource: HostResource): string {
  return `${host.source} ${describeAmount(resource, host[resource])}`;
}

/** The config with built-in defaults lowered to the host and the host recorded, and what was found. */
export function fitHost(config: Config, host: HostFigures): HostFit {
  const notes: HostNote[] = [];
  const defaults = { ...config.defaults };
  for (const resource of RESOURCES) {
    const key = `defaults.${resource}`;
    const value = config.defaults[resource];
    if (value <= host[resource]) continue;
    const builtIn = !(key in config.resources_set);
    const line = config.resources_set[key];
    const shown = resource === 'cpus' ? String(value) : readableSize(value);
    if (builtIn) {
      defaults[resource] = host[resource];
      notes.push({
        key,
        builtIn,
        value,
        host: host[resource],
        message: `${key}: the built-in ${shown} is more than ${hostAmount(host, resource)}; jobs default to ${resource === 'cpus' ? host.cpus : readableSize(host.memory)}`,
      });
    } else {
      notes.push({
        key,
        ...(line !== undefined ? { line } : {}),
        builtIn,
        value,
        host: host[resource],
        message: `${where(key, line)}: ${shown} is more than ${hostAmount(host, resource)}; a job that does not give ${resource} cannot start`,
      });
    }
  }
  for (const resource of RESOURCES) {
    const key = `limits.${resource}`;
    const value = config.limits[resource];
    // A built-in limit above the host is no mistake: the host is the tighter limit, with its own message.
    if (!(key in config.resources_set) || value <= host[resource]) continue;
    const line = config.resources_set[key];
    const shown = resource === 'cpus' ? String(value) : readableSize(value);
    notes.push({
      key,
      ...(line !== undefined ? { line } : {}),
      builtIn: false,
      value,
      host: host[resource],
      message: `${where(key, line)}: ${shown} is more than ${hostAmount(host, resource)}; jobs are held to what the host has`,
    });
  }
  return { config: { ...config, defaults, host }, notes };
}

/**
 * Why a job's resources (its manifest's, defaults applied) can never be had on this host, or
 * undefined: for a job queued before the host changed (or the config's default is above it).
 */
export function beyondHost(job: { cpus: number; memory: number }, host: HostFigures): string | undefined {
  const over = RESOURCES.filter((resource) => job[resource] > host[resource]);
  if (over.length === 0) return undefined;
  return `it asks for ${over.map((resource) => `${describeAmount(resource, job[resource])}`).join(' and ')}, more than ${over.map((resource) => hostAmount(host, resource)).join(' and ')}: it can never start here`;
}

/**
 * A parsed manifest whose CPUs or memory, not given and so from the config's defaults, are more
 * than the host has (a default the admin set above it): what push says instead of queueing a
 * job that cannot start. Values the manifest gives are checked, with their lines, by the parse.
 */
export function defaultsBeyondHost(job: { cpus: number; memory: number }, host: HostFigures): Issue[] {
  return RESOURCES.filter((resource) => job[resource] > host[resource]).map((resource) => ({
    path: resource,
    message: `not given, and the server's default (defaults.${resource}: ${resource === 'cpus' ? job.cpus : readableSize(job.memory)}) is more than ${hostAmount(host, resource)}; give ${resource}: ${resource === 'cpus' ? host.cpus : readableSize(host.memory)} or less`,
  }));
}

function where(key: string, line: number | undefined): string {
  return line === undefined ? key : `${key} (line ${line})`;
}
