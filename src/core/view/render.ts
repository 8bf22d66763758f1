// QueueView -> the tables `dopq q` prints, in DoPQ's panes: status, running, queued, finished,
// users. Colour level is a parameter (0 = none) so the caller decides about TTYs and NO_COLOR.
import { printable } from './printable.js';
import { createRequire } from 'node:module';
import { Chalk, type ChalkInstance } from 'chalk';
import Table from 'cli-table3';
import { fitColumns, MIN_WIDTH, type TableFit } from './fit-table.js';
import { localTime } from './local-time.js';
import type { JobView, QueueView } from './queue-view.js';
import { formatDuration } from '../units.js';
import { arrayOf, taskLabel, timeLeftOf } from './job-fields.js';

export interface RenderOptions {
  now: number;
  colorLevel: 0 | 1 | 2 | 3;
  /** Finished rows to draw, newest first; the older ones become one line. Absent: all. */
  finishedLimit?: number;
  /** The terminal's width: every line fits it (see TABLE_FITS). Absent: no limit (`--wide`, a pipe). */
  width?: number;
  /** IANA zone for the times in the header (the TZ environment variable); absent: the system's. */
  timeZone?: string;
  /** One row per queued array task, rather than one row per array (`17_[4-19%4]`, as squeue). */
  expand?: boolean;
}

// cli-table3's own cell width and cut (ANSI-aware, wide characters), so widths match its padding.
const { strlen, truncate: cut } = createRequire(import.meta.url)('cli-table3/src/utils.js') as {
  strlen: (text: string) => number;
  truncate: (text: string, width: number, marker?: string) => string;
};

/**
 * What each table gives up in a narrow terminal (documented in dopq(1)): first the columns that
 * repeat what another says (a queued job's place is its row; penalty is usage / share) or matter
 * least, then names and details are cut with `…`.
 */
export const TABLE_FITS = {
  running: {
    drop: ['limit', 'mem'],
    truncate: [
      { column: 'name', min: 10 },
      { column: 'user', min: 8 },
    ],
  },
  queued: {
    drop: ['waiting', '#'],
    truncate: [
      { column: 'name', min: 10 },
      { column: 'est. start', min: 10 },
      { column: 'user', min: 8 },
    ],
  },
  finished: {
    drop: ['duration', 'exit', 'ended'],
    truncate: [
      { column: 'detail', min: 10 },
      { column: 'name', min: 10 },
      { column: 'outcome', min: 8 },
      { column: 'user', min: 8 },
    ],
  },
  users: { drop: ['usage (GPU-h)', 'share'], truncate: [{ column: 'user', min: 8 }] },
} satisfies Record<string, TableFit>;

/** No column dropped and none cut: `--wide`, or output that is not a terminal. */
const NO_FIT: TableFit = { drop: [], truncate: [] };

/** Rows one cli-table3 Table draws at most: its layout step is quadratic in rows (20,000 took 38 s). */
export const TABLE_CHUNK_ROWS = 100;

/** What every part of the drawing needs beside the view. */
interface Drawing {
  now: number;
  c: ChalkInstance;
  width: number | undefined;
  timeZone: string | undefined;
  expand: boolean;
}

export function renderQueue(view: QueueView, options: RenderOptions): string {
  const d: Drawing = {
    now: options.now,
    c: new Chalk({ level: options.colorLevel }),
    width: options.width === undefined ? undefined : Math.max(options.width, MIN_WIDTH),
    timeZone: options.timeZone,
    expand: Boolean(options.expand),
  };
  const sections = [
    renderStatus(view, d),
    section(d, 'Running', runningTable(view, d)),
    section(d, 'Queued', queuedTable(view, d)),
    section(d, 'Finished', finishedTable(view, options.finishedLimit, d)),
    section(d, 'Users', usersTable(view, d)),
  ];
  return `${sections.join('\n\n')}\n`;
}

function section({ c }: Drawing, title: string, body: string): string {
  return `${c.bold(title)}\n${body}`;
}

function table(head: string[], rows: string[][], fit: TableFit, { c, width }: Drawing): string {
  return rows.length === 0 ? c.dim('  (none)') : drawTable(head, rows, TABLE_CHUNK_ROWS, { fit, width });
}

/** Lines of text (not tables) cut to the width with `…`; a line already within it is left as is. */
function fitLines(text: string, width: number | undefined): string {
  if (width === undefined) return text;
  return text
    .split('\n')
    .map((line) => (strlen(line) <= width ? line : cut(line, width)))
    .join('\n');
}

/**
 * What one cli-table3 Table of all rows draws, in time linear in rows: widths are measured once
 * over all cells, then chunks of rows are drawn at those fixed widths and joined without the
 * borders between chunks. With a `width`, the columns are fitted to it first (fit-table.ts):
 * some dropped, and cli-table3 cuts each cell wider than its column with `…`.
 */
export function drawTable(
  head: string[],
  rows: string[][],
  chunkRows = TABLE_CHUNK_ROWS,
  fitting: { fit: TableFit; width: number | undefined } = { fit: NO_FIT, width: undefined },
): string {
  // As cli-table3 sizes a column: its widest cell plus one space of padding each side.
  const natural = head.map((cell, i) => rows.reduce((width, row) => Math.max(width, strlen(row[i] ?? '') + 2), strlen(cell) + 2));
  const { keep, colWidths } = fitColumns(head, natural, fitting.fit, fitting.width);
  const all = keep.length === head.length;
  const pick = (row: string[]): string[] => (all ? row : keep.map((i) => row[i] ?? ''));
  const lines: string[] = [];
  for (let start = 0; start < rows.length; start += chunkRows) {
    const first = start === 0;
    const last = start + chunkRows >= rows.length;
    const t = new Table({
      head: first ? pick(head) : [],
      colWidths,
      style: { head: [], border: [] },
      chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
    });
    t.push(...rows.slice(start, start + chunkRows).map(pick));
    const drawn = t.toString().split('\n');
    lines.push(...drawn.slice(first ? 0 : 1, last ? drawn.length : -1));
  }
  return lines.join('\n');
}

function renderStatus(view: QueueView, d: Drawing): string {
  const { c } = d;
  const at = (iso: string | null) => (iso === null ? '?' : localTime(Date.parse(iso), d.now, d.timeZone));
  const daemon = view.daemon.running
    ? `${c.green('up')} (pid ${view.daemon.pid}${view.daemon.host ? ` on ${view.daemon.host}` : ''}, since ${at(view.daemon.since)})`
    : c.red('not running');
  const lines = [
    `${c.bold('Daemon')}  ${daemon}`,
    ...(view.daemon.engine && !view.daemon.engine.reachable
      ? [
          `${c.bold('Engine')}  ${c.red(`unreachable since ${at(view.daemon.engine.since)}`)}${view.daemon.engine.error ? ` (${view.daemon.engine.error})` : ''}: nothing starts; pushes are kept`,
        ]
      : []),
    ...(view.daemon.state_not_saved
      ? [
          `${c.bold('State')}   ${c.red(`not saved since ${at(view.daemon.state_not_saved.since)}: ${view.daemon.state_not_saved.error}`)}; running jobs go on, none start`,
        ]
      : []),
    ...reloadLine(view.daemon.reload, c, at),
    `${c.bold('Policy')}  ${view.backend === 'slurm' ? "Slurm's (its priority and fair-share)" : view.policy}${view.paused ? `  ${c.red(`paused by ${view.paused.by} since ${at(view.paused.since)}: no new jobs start`)}` : ''}`,
  ];
  const status = fitLines(lines.join('\n'), d.width);
  const reserved = view.reservation
    ? fitLines(
        `${c.bold('Reserved')} GPUs ${gpuLabels(view, view.reservation.gpus)} for job ${view.reservation.job} from ${at(view.reservation.at)}`,
        d.width,
      )
    : undefined;
  return [status, gpusLine(view, d), ...(reserved ? [reserved] : [])].join('\n');
}

/** Free/total and each GPU by index, wrapped to the width; before the daemon's first scan, the config's. */
function gpusLine(view: QueueView, { c, width }: Drawing): string {
  const head = `${c.bold('GPUs')}    `;
  if (view.backend === 'slurm') return fitLines(`${head}on Slurm's nodes, which Slurm hands out (sinfo)`, width);
  if (view.gpus_source === 'unknown') return fitLines(`${head}unknown until the daemon runs (gpus: auto)`, width);
  const items = [...view.gpus]
    .sort((a, b) => a.index - b.index)
    .map(
      (gpu) => `${gpu.index}:${gpu.state === 'free' ? c.green('free') : gpu.state === 'held' ? c.yellow(`job ${gpu.job}`) : c.red('busy')}`,
    );
  const note = view.gpus_source === 'config' ? "(the config's list; the daemon has not run yet)".split(' ') : [];
  const list = items.length === 0 ? [] : [`[${items[0]!}`, ...items.slice(1)];
  if (list.length > 0) list[list.length - 1] += ']';
  // Two spaces between the count and the list, as ever; `wrapWords` puts one.
  return fitLines(wrapWords(head, [`${view.gpus_free}/${view.gpus_total} free${list.length ? ' ' : ''}`, ...list, ...note], width), width);
}

/** `words` after `head`, one space apart, a new line (indented as wide as `head`) when one would pass `width`. */
function wrapWords(head: string, words: string[], width: number | undefined): string {
  const indent = ' '.repeat(strlen(head));
  const lines: string[] = [];
  let line = head;
  let empty = true;
  for (const word of words) {
    if (!empty && width !== undefined && strlen(line) + 1 + strlen(word) > width) {
      lines.push(line);
      line = indent;
      empty = true;
    }
    line += empty ? word : ` ${word}`;
    empty = false;
  }
  return [...lines, line].join('\n');
}

/** The last config reload, when it says something: refused (the old config stays), or keys that wait for a restart. */
function reloadLine(reload: QueueView['daemon']['reload'], c: ChalkInstance, at: (iso: string) => string): string[] {
  if (!reload) return [];
  if (!reload.applied) {
    const more = reload.errors.length > 1 ? ` (and ${reload.errors.length - 1} more)` : '';
    return [
      `${c.bold('Config')}  ${c.red(`reload refused at ${at(reload.at)} (${reload.by}): ${reload.errors[0] ?? '?'}${more}`)}; the running config stays`,
    ];
  }
  return reload.pending_restart.length > 0
    ? [`${c.bold('Config')}  ${c.yellow(`${reload.pending_restart.join(', ')} changed: applied on restart`)}`]
    : [];
}

const since = (iso: string | null, now: number): string => (iso === null ? '-' : formatDuration((now - Date.parse(iso)) / 1000));

/** GPU ids as the indices people know, in numeric order (ids not in the inventory after them). */
function gpuLabels(view: QueueView, ids: string[]): string {
  const index = new Map(view.gpus.map((gpu) => [gpu.id, gpu.index]));
  return (
    [...ids]
      .sort((a, b) => (index.get(a) ?? Infinity) - (index.get(b) ?? Infinity) || a.localeCompare(b, 'en', { numeric: true }))
      .map((id) => String(index.get(id) ?? id))
      .join(',') || '-'
  );
}

function runningTable(view: QueueView, d: Drawing): string {
  const rows = view.jobs
    .filter((job) => job.state === 'running')
    .map((job) => [
      taskLabel(job),
      job.user,
      nameOf(job),
      gpuLabels(view, job.gpus),
      since(job.started_at, d.now),
      job.time_limit === null ? '-' : formatDuration(job.time_limit),
      timeLeftCell(job, d),
      ...usageCells(job, d),
    ]);
  return table(['id', 'user', 'name', 'gpus', 'runtime', 'limit', 'left', 'cpu', 'mem', 'gpu use'], rows, TABLE_FITS.running, d);
}

/** CPU % of one core; memory now/limit (peak when over now); GPU utilization, `idle` in yellow. */
function usageCells(job: JobView, { c }: Drawing): [string, string, string] {
  const usage = job.usage;
  if (!usage) return ['-', '-', job.idle ? c.yellow('idle') : '-'];
  const cpu = usage.cpu_percent === null ? '-' : `${Math.round(usage.cpu_percent)}%`;
  const limit = usage.memory_limit_bytes === null ? '' : `/${compactSize(usage.memory_limit_bytes)}`;
  const mem = `${compactSize(usage.memory_bytes)}${limit}`;
  const gpuText = usage.gpu_util_percent === null ? '-' : `${Math.round(usage.gpu_util_percent)}% ${usage.gpu_memory_mib ?? 0}M`;
  return [cpu, mem, job.idle ? c.yellow(`idle ${gpuText}`) : gpuText];
}

function compactSize(bytes: number): string {
  const units: [number, string][] = [
    [1024 ** 3, 'G'],
    [1024 ** 2, 'M'],
    [1024, 'K'],
  ];
  const [factor, unit] = units.find(([f]) => bytes >= f) ?? [1, 'B'];
  return `${Number((bytes / factor).toFixed(1))}${unit}`;
}

/** Time until the limit stops the job; yellow in its last tenth, as a warning. */
function timeLeftCell(job: JobView, { now, c }: Drawing): string {
  const left = timeLeftOf(job, now);
  if (left === null) return '-';
  return job.time_limit !== null && left < job.time_limit / 10 ? c.yellow(formatDuration(left)) : formatDuration(left);
}

const WAITING_FOR: Record<string, string> = {
  held: 'held',
  paused: 'queue paused',
  reserved: 'GPUs reserved',
  'too-big': 'more GPUs than usable',
  'user-cap': 'at per-user GPU cap',
  image: 'image to build',
  building: 'building its image',
  dependency: 'after other jobs',
  'array-limit': 'array at its %N cap',
};

/** `now`, `in 2h10m`, or why it cannot be known. */
function startCell(job: JobView, now: number, c: ChalkInstance): string {
  // With Slurm, its pending reason (Priority, Resources, JobHeldAdmin, ...) when dopq has none of its own.
  const note = job.waiting_for ? WAITING_FOR[job.waiting_for] : (job.slurm?.reason ?? undefined);
  if (job.estimated_start === null) return c.dim(note ?? '-');
  const wait = (Date.parse(job.estimated_start) - now) / 1000;
  const when = wait <= 0 ? 'now' : `in ${formatDuration(wait)}`;
  return note ? `${when} (${note})` : when;
}

function queuedTable(view: QueueView, d: Drawing): string {
  const { now, c } = d;
  const waiting = view.jobs
    .filter((job) => job.state === 'queued' || job.state === 'building')
    .sort((a, b) => (a.position ?? Infinity) - (b.position ?? Infinity) || a.id - b.id);
  const rows = (d.expand ? waiting.map((job) => ({ job, label: taskLabel(job) })) : groupTasks(waiting)).map(({ job, label }) => [
    String(job.position ?? '-'),
    label,
    job.user,
    nameOf(job),
    job.ingested || job.gpus_requested > 0 ? String(job.gpus_requested) : '?',
    since(job.submitted_at, now),
    startCell(job, now, c),
  ]);
  return table(['#', 'id', 'user', 'name', 'gpus', 'waiting', 'est. start'], rows, TABLE_FITS.queued, d);
}

/**
 * Queued tasks of one array as one row, at the place of its first, labelled as squeue does
 * (`17_[4-7,9%4]`); held ones apart from the others. A lone task keeps its own row (`17_4`).
 */
export function groupTasks(waiting: readonly JobView[]): { job: JobView; label: string }[] {
  const groups = new Map<string, JobView[]>();
  const keyOf = (job: JobView): string | undefined => {
    const array = arrayOf(job);
    return array && job.state === 'queued' ? `${array.id}${job.held_by ? 'h' : ''}` : undefined;
  };
  for (const job of waiting) {
    const key = keyOf(job);
    if (key === undefined) continue;
    const group = groups.get(key);
    if (group) group.push(job);
    else groups.set(key, [job]);
  }
  const rows: { job: JobView; label: string }[] = [];
  for (const job of waiting) {
    const key = keyOf(job);
    const group = key === undefined ? undefined : groups.get(key);
    if (!group || group.length < 2) rows.push({ job, label: taskLabel(job) });
    else if (group[0] === job) {
      const array = arrayOf(job)!;
      const indices = group.map((task) => arrayOf(task)!.index).sort((a, b) => a - b);
      rows.push({ job, label: `${array.id}_[${indexRanges(indices)}${array.throttle === null ? '' : `%${array.throttle}`}]` });
    }
  }
  return rows;
}

/** `4-7,9,11-19` from ascending indices. */
export function indexRanges(indices: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < indices.length;) {
    let j = i;
    while (j + 1 < indices.length && indices[j + 1] === indices[j]! + 1) j += 1;
    parts.push(i === j ? String(indices[i]) : `${indices[i]}-${indices[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** A job's name, with its attempt when an engine restart made it run again. */
function nameOf(job: JobView): string {
  const name = printable(job.name);
  return job.attempt > 1 ? `${name} (attempt ${job.attempt})` : name;
}

function outcome(job: JobView, c: ChalkInstance): string {
  const text = job.reason && job.reason !== 'exited' && job.reason !== job.state ? `${job.state} (${job.reason})` : job.state;
  return job.state === 'done' ? c.green(text) : job.state === 'cancelled' ? c.yellow(text) : c.red(text);
}

/** Newest first; past `limit`, one line counts the rest (`q --json` and `q --all` keep them all). */
function finishedTable(view: QueueView, limit: number | undefined, d: Drawing): string {
  const { c } = d;
  const finished = view.jobs
    .filter((job) => ['done', 'failed', 'cancelled', 'rejected'].includes(job.state))
    .sort((a, b) => Date.parse(b.finished_at ?? '') - Date.parse(a.finished_at ?? '') || b.id - a.id);
  const hidden = limit === undefined ? 0 : Math.max(0, finished.length - limit);
  const rows = finished
    .slice(0, finished.length - hidden)
    .map((job) => [
      taskLabel(job),
      job.user,
      nameOf(job),
      outcome(job, c),
      job.exit_code === null ? '-' : String(job.exit_code),
      job.started_at && job.finished_at ? formatDuration((Date.parse(job.finished_at) - Date.parse(job.started_at)) / 1000) : '-',
      job.finished_at ? localTime(Date.parse(job.finished_at), d.now, d.timeZone) : '-',
      detailOf(job, d),
    ]);
  const drawn = table(['id', 'user', 'name', 'outcome', 'exit', 'duration', 'ended', 'detail'], rows, TABLE_FITS.finished, d);
  return hidden > 0 ? `${drawn}\n${fitLines(c.dim(`  ... ${hidden} older not shown; dopq q --all shows them`), d.width)}` : drawn;
}

function usersTable(view: QueueView, d: Drawing): string {
  const rows = view.users.map((user) => [
    user.user,
    String(user.share),
    user.usage_gpu_hours.toFixed(2),
    view.backend === 'slurm'
      ? user.fairshare == null
        ? '-'
        : user.fairshare.toFixed(3)
      : user.penalty === null
        ? '-'
        : user.penalty.toFixed(2),
    String(user.running),
    String(user.gpus_held),
    String(user.queued),
  ]);
  const penalty =
    view.backend === 'slurm' ? 'fair-share (Slurm)' : view.policy === 'dopq-classic' ? 'penalty (DoPQ)' : 'penalty (GPU-h/share)';
  return table(['user', 'share', 'usage (GPU-h)', penalty, 'running', 'gpus', 'queued'], rows, TABLE_FITS.users, d);
}

/** The message's first line (dopq q --json has it all); in a terminal at most 60 characters, whole with --wide or in a pipe. */
function detailOf(job: JobView, d: Drawing): string {
  const line = printable((job.message ?? '').split('\n')[0]!);
  return d.width === undefined ? line : truncate(line, 60);
}

function truncate(text: string, max: number): string {
  const line = text.split('\n')[0] ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
