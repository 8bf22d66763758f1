// `dopq report` drawn: a table with a bar of GPU-hours per row (and a sparkline of them by day or
// week), or CSV rows for a spreadsheet.
import { OUTCOMES, type Report, type ReportRow } from './report.js';

const BAR_WIDTH = 20;
const SPARKS = '▁▂▃▄▅▆▇█';

/** A bar `width` cells long at full scale, in eighths of a cell. */
export function bar(value: number, max: number, width = BAR_WIDTH): string {
  if (max <= 0 || value <= 0) return '';
  const eighths = Math.max(1, Math.round((value / max) * width * 8));
  return '█'.repeat(Math.floor(eighths / 8)) + (eighths % 8 > 0 ? '▏▎▍▌▋▊▉'[(eighths % 8) - 1]! : '');
}

/** One character per value, the tallest for the largest (all lowest when all are 0). */
export function sparkline(values: readonly number[]): string {
  const max = Math.max(0, ...values);
  return values.map((value) => SPARKS[max > 0 ? Math.min(7, Math.floor((value / max) * 7.999)) : 0]).join('');
}

const hours = (value: number | null): string => (value === null ? '-' : value.toFixed(2));
const percent = (value: number | null): string => (value === null ? '-' : `${value.toFixed(0)}%`);

/** A wait as a short duration (s, m, h, d). */
export function shortDuration(seconds: number | null): string {
  if (seconds === null) return '-';
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)}m`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)}h`;
  return `${(seconds / 86400).toFixed(1)}d`;
}

const HEADER = ['', 'gpu-hours', 'done', 'failed', 'cancelled', 'rejected', 'wait mean', 'wait p95', 'gpu util', 'idle gpu-h'];

function cells(row: ReportRow): string[] {
  return [
    row.key,
    hours(row.gpu_hours),
    ...OUTCOMES.map((outcome) => String(row.jobs[outcome])),
    shortDuration(row.wait_mean_seconds),
    shortDuration(row.wait_p95_seconds),
    percent(row.gpu_util_percent),
    row.idle_gpu_hours === null ? '-' : hours(row.idle_gpu_hours),
  ];
}

export function renderReport(report: Report): string {
  const header = [report.by === 'user' ? 'user' : report.by, ...HEADER.slice(1)];
  const body = [...report.rows.map(cells), cells(report.total)];
  const widths = header.map((title, column) => Math.max(title.length, ...body.map((row) => row[column]!.length)));
  const line = (row: string[]) =>
    row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  const max = Math.max(0, ...report.rows.map((row) => row.gpu_hours));
  const lines = [
    `GPU accounting ${report.since} .. ${report.until}`,
    '',
    line(header),
    ...report.rows.map((row, index) => `${line(body[index]!)}  ${bar(row.gpu_hours, max)}`),
    line(body[body.length - 1]!),
  ];
  if (report.by !== 'user' && report.rows.length > 1)
    lines.push('', `gpu-hours by ${report.by}: ${sparkline(report.rows.map((row) => row.gpu_hours))}`);
  if (report.total.gpu_hours > 0 && report.total.gpu_util_percent === null)
    lines.push('', 'gpu util and idle gpu-hours: unknown (no job on record was measured by telemetry)');
  return `${lines.join('\n')}\n`;
}

const CSV_HEADER = [
  'key',
  'gpu_hours',
  ...OUTCOMES.map((outcome) => `jobs_${outcome}`),
  'started',
  'wait_mean_seconds',
  'wait_p95_seconds',
  'measured_gpu_hours',
  'gpu_util_percent',
  'idle_gpu_hours',
];

/** RFC 4180: a field with a comma, quote or newline is quoted, quotes doubled; unknown is empty. */
function csvField(value: string | number | null): string {
  const text = value === null ? '' : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function reportCsv(report: Report): string {
  const rows = [...report.rows, report.total].map((row) =>
    [
      row.key,
      row.gpu_hours,
      ...OUTCOMES.map((outcome) => row.jobs[outcome]),
      row.started,
      row.wait_mean_seconds,
      row.wait_p95_seconds,
      row.measured_gpu_hours,
      row.gpu_util_percent,
      row.idle_gpu_hours,
    ]
      .map(csvField)
      .join(','),
  );
  return `${[CSV_HEADER.join(','), ...rows].join('\n')}\n`;
}
