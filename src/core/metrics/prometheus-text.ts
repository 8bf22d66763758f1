// Prometheus' text exposition format (version 0.0.4): metric families as plain data, drawn as text.
// Pure, so the renderer is tested alone and shared by `dopq metrics` and the served /metrics.

export type MetricType = 'gauge' | 'counter' | 'histogram';

export interface Sample {
  /** Appended to the family's name (`_bucket`, `_sum`, `_count` of a histogram), else ''. */
  suffix?: string;
  labels?: Readonly<Record<string, string>>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

/** The media type a scraper expects for this format. */
export const TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A label value as the format escapes it: backslash, double quote and newline. */
export function escapeLabelValue(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}

/** HELP text escapes only backslash and newline. */
function escapeHelp(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');
}

/** A number as the format writes it: +Inf, -Inf and NaN by name. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function labelText(labels: Readonly<Record<string, string>> | undefined): string {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return '';
  for (const [key] of entries) if (!LABEL.test(key) || key.startsWith('__')) throw new Error(`bad label name ${key}`);
  return `{${entries.map(([key, value]) => `${key}="${escapeLabelValue(value)}"`).join(',')}}`;
}

/** The families as one exposition, each with its HELP and TYPE lines, ending in a newline. */
export function renderExposition(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const family of families) {
    if (!NAME.test(family.name)) throw new Error(`bad metric name ${family.name}`);
    if (seen.has(family.name)) throw new Error(`metric ${family.name} twice`);
    seen.add(family.name);
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples)
      lines.push(`${family.name}${sample.suffix ?? ''}${labelText(sample.labels)} ${formatValue(sample.value)}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * A histogram's samples from raw observations: cumulative `_bucket` counts for each upper bound
 * (sorted, ascending) and +Inf, then `_sum` and `_count`, each with `labels` besides `le`.
 */
export function histogramSamples(
  observations: readonly number[],
  bounds: readonly number[],
  labels: Readonly<Record<string, string>> = {},
): Sample[] {
  const sorted = [...bounds].sort((a, b) => a - b);
  const samples: Sample[] = sorted.map((bound) => ({
    suffix: '_bucket',
    labels: { ...labels, le: formatValue(bound) },
    value: observations.filter((value) => value <= bound).length,
  }));
  samples.push({ suffix: '_bucket', labels: { ...labels, le: '+Inf' }, value: observations.length });
  samples.push({ suffix: '_sum', labels, value: observations.reduce((sum, value) => sum + value, 0) });
  samples.push({ suffix: '_count', labels, value: observations.length });
  return samples;
}
