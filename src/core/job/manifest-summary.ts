// What `dopq q` shows of a job still waiting in the intake, before the daemon has read it: its
// name and GPU count, read with the YAML reader the daemon uses, so both read a manifest alike.
// Nothing is validated here (the daemon does that): a field the daemon would refuse is left out,
// and text that does not parse gives nothing. The work is linear in the text, whose size push caps.
import { readYaml } from '../document/yaml-source.js';
import { JOB_NAME } from './manifest.js';

export interface ManifestSummary {
  name?: string;
  gpus?: number;
}

/** The manifest's own `name` and `gpus`, where it gives them as the daemon would take them; never throws. */
export function summarizeManifest(text: string): ManifestSummary {
  const fields = topLevelFields(text);
  if (fields === undefined) return {};
  const { name, gpus } = fields;
  return {
    ...(typeof name === 'string' && JOB_NAME.test(name) ? { name } : {}),
    ...(typeof gpus === 'number' && Number.isSafeInteger(gpus) && gpus >= 0 ? { gpus } : {}),
  };
}

function topLevelFields(text: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    const yaml = readYaml(text);
    if (!yaml.ok) return undefined;
    value = yaml.source.value;
  } catch {
    return undefined; // nesting deep enough to exhaust the stack: a summary is not worth an error
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
