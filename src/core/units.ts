// Human units used in manifests and config: sizes (`32g`) and durations (`90m`, `7d`).

const SIZE_FACTORS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
};

/** Bytes from `512m`, `32g`, `1.5g` or a plain integer; undefined when it is not a size. */
export function parseSize(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  if (!match) return undefined;
  const factor = SIZE_FACTORS[match[2]!.toLowerCase()];
  if (factor === undefined) return undefined;
  const bytes = Math.round(Number(match[1]) * factor);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

const DURATION_FACTORS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** Seconds from `90m`, `48h`, `7d`, `1h30m` or a plain number of seconds. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const text = value.trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const parts = text.match(/\d+(?:\.\d+)?[smhdw]/g);
  if (!parts || parts.join('') !== text) return undefined;
  let seconds = 0;
  for (const part of parts) seconds += Number(part.slice(0, -1)) * DURATION_FACTORS[part.slice(-1)]!;
  return seconds;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '-';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}

export function formatSize(bytes: number): string {
  const units = ['b', 'k', 'm', 'g', 't'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1 && value % 1024 === 0) {
    value /= 1024;
    unit += 1;
  }
  return `${value}${units[unit]}`;
}

/** Bytes as people read them in a message: 800 MB, 1.5 GB (formatSize is the config's spelling). */
export function readableSize(bytes: number): string {
  const units: [number, string][] = [
    [1024 ** 4, 'TB'],
    [1024 ** 3, 'GB'],
    [1024 ** 2, 'MB'],
    [1024, 'KB'],
  ];
  const [factor, unit] = units.find(([f]) => bytes >= f) ?? [1, 'bytes'];
  return `${Number((bytes / factor).toFixed(1))} ${unit}`;
}
