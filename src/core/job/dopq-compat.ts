// DoPQ's container_config.json -> a dopq manifest. DoPQ handed run_params straight to docker-py's
// containers.create; here only the keys that map onto manifest fields are taken, and any other
// is refused by name. executor_name must be the user who pushes: a name written in a file never
// decides who a job belongs to, it can only be refused.

export interface DopqConversion {
  /** The manifest as plain data (YAML-able), when there was nothing to refuse. */
  manifest?: Record<string, unknown>;
  problems: string[];
  /** What was accepted but has no effect here, for comments. */
  notes: string[];
}

export interface DopqSource {
  /** Dockerfile path inside the folder, when there is one. */
  dockerfile?: string;
  /** An image archive (.tar) inside the folder, for build_flag: false. */
  archive?: string;
}

const KNOWN = new Set(['name', 'executor_name', 'num_gpus', 'num_slots', 'required_memory', 'build_flag', 'run_params']);
const RUN_PARAMS = new Set(['environment', 'command', 'working_dir', 'shm_size', 'nano_cpus', 'cpu_count', 'mem_limit']);

export function convertDopqConfig(text: string, pushingUser: string, source: DopqSource): DopqConversion {
  const problems: string[] = [];
  const notes: string[] = [];
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return { problems: [`not JSON: ${(error as Error).message}`], notes };
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return { problems: ['expected a JSON object'], notes };
  const config = raw as Record<string, unknown>;
  for (const key of Object.keys(config)) if (!KNOWN.has(key)) problems.push(`${key}: not a DoPQ container_config.json key`);

  const manifest: Record<string, unknown> = {};
  const name = config['name'];
  if (typeof name !== 'string' || name.length < 3) problems.push('name: DoPQ requires a name of at least 3 characters');
  else
    manifest['name'] =
      name
        .replace(/[^A-Za-z0-9_.-]/g, '_')
        .replace(/^[^A-Za-z0-9]+/, '')
        .slice(0, 64) || 'job';

  const executor = config['executor_name'];
  if (typeof executor !== 'string') problems.push('executor_name: required (your user name)');
  else if (executor !== pushingUser)
    problems.push(`executor_name: is ${JSON.stringify(executor)}, but you are ${pushingUser}; a job runs as whoever pushes it`);

  const gpus = config['num_gpus'] ?? 1;
  if (typeof gpus !== 'number' || !Number.isInteger(gpus) || gpus < 0) problems.push('num_gpus: expected a whole number');
  else manifest['gpus'] = gpus;

  const memory = config['required_memory'] ?? '20g';
  if (typeof memory !== 'string' && typeof memory !== 'number') problems.push('required_memory: expected a size such as 20g');
  else manifest['memory'] = /^\d+(\.\d+)?$/.test(String(memory)) ? `${memory}g` : String(memory); // DoPQ read a bare number as GB

  if (config['num_slots'] !== undefined && config['num_slots'] !== 1)
    notes.push(`num_slots: ${JSON.stringify(config['num_slots'])} has no meaning in dopq and is ignored`);

  if (config['build_flag'] === false) {
    if (source.archive) manifest['image_archive'] = source.archive;
    else problems.push('build_flag: false needs an image archive (a docker save .tar) next to container_config.json');
  } else if (config['build_flag'] !== undefined && config['build_flag'] !== true) {
    problems.push('build_flag: expected true or false');
  } else if (source.dockerfile) {
    manifest['build'] = source.dockerfile === 'Dockerfile' ? { context: '.' } : { context: '.', dockerfile: source.dockerfile };
  } else {
    problems.push('build_flag: true needs a Dockerfile next to container_config.json');
  }

  const params = config['run_params'] ?? {};
  if (!params || typeof params !== 'object' || Array.isArray(params)) problems.push('run_params: expected an object');
  else {
    for (const [key, value] of Object.entries(params as Record<string, unknown>)) {
      if (!RUN_PARAMS.has(key)) {
        problems.push(`run_params.${key}: not taken by dopq (only ${[...RUN_PARAMS].join(', ')}); remove it`);
        continue;
      }
      const problem = mapRunParam(key, value, manifest, notes);
      if (problem) problems.push(`run_params.${key}: ${problem}`);
    }
  }
  return problems.length > 0 ? { problems, notes } : { manifest, problems, notes };
}

function mapRunParam(key: string, value: unknown, manifest: Record<string, unknown>, notes: string[]): string | undefined {
  switch (key) {
    case 'environment': {
      const env: Record<string, string> = {};
      if (Array.isArray(value)) {
        for (const item of value) {
          if (typeof item !== 'string' || !item.includes('=')) return 'expected NAME=value strings';
          env[item.slice(0, item.indexOf('='))] = item.slice(item.indexOf('=') + 1);
        }
      } else if (value && typeof value === 'object') {
        for (const [name, v] of Object.entries(value)) env[name] = String(v);
      } else return 'expected a map or a list of NAME=value';
      manifest['env'] = env;
      return undefined;
    }
    case 'command':
      if (typeof value === 'string' || (Array.isArray(value) && value.every((v) => typeof v === 'string'))) manifest['command'] = value;
      else return 'expected a string or a list of strings';
      return undefined;
    case 'working_dir':
      if (typeof value !== 'string') return 'expected a path';
      manifest['workdir'] = value;
      return undefined;
    case 'shm_size':
      if (typeof value !== 'string' && typeof value !== 'number') return 'expected a size';
      manifest['shm'] = value;
      return undefined;
    case 'nano_cpus':
      if (typeof value !== 'number' || value <= 0) return 'expected a positive number';
      manifest['cpus'] = value / 1e9;
      return undefined;
    case 'cpu_count':
      if (typeof value !== 'number' || value <= 0) return 'expected a positive number';
      manifest['cpus'] = value;
      return undefined;
    case 'mem_limit':
      notes.push('run_params.mem_limit: DoPQ replaced it with required_memory; ignored');
      return undefined;
    default:
      return 'not taken';
  }
}
