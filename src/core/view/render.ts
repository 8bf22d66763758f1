// QueueView -> the tables `dopq q` prints, in DoPQ's panes: status, running, queued, finished,
// users. Colour level is a parameter (0 = none) so the caller decides about TTYs and NO_COLOR.
import { createRequire } from 'node:module';
import { Chalk, type ChalkInstance } from 'chalk';
import Table from 'cli-table3';
import type { JobView, QueueView } from './queue-view.js';
import { formatDuration } from '../units.js';

export interface RenderOptions {
  now: number;
  colorLevel: 0 | 1 | 2 | 3;
  /** Finished rows to draw, newest first; the older ones become one line. Absent: all. */
  finishedLimit?: number;
}

// cli-table3's own cell width (ANSI-aware, wide characters), so measured widths match its padding.
const { strlen } = createRequire(import.meta.url)('cli-table3/src/utils.js') as { strlen: (text: string) => number };

/** Rows one cli-table3 Table draws at most: its layout step is quadratic in rows (20,000 took 38 s). */
export const TABLE_CHUNK_ROWS = 100;

export function renderQueue(view: QueueView, options: RenderOptions): string {
  const c = new Chalk({ level: options.colorLevel });
  const sections = [
    renderStatus(view, c),
    section(c, 'Running', runningTable(view, options.now, c)),
    section(c, 'Queued', queuedTable(view, options.now, c)),
    section(c, 'Finished', finishedTable(view, options.finishedLimit, c)),
    section(c, 'Users', usersTable(view, c)),
  ];
  return `${sections.join('\n\n')}\n`;
}

function section(c: ChalkInstance, title: string, body: string): string {
  return `${c.bold(title)}\n${body}`;
}

function table(head: string[], rows: string[][], c: ChalkInstance): string {
  return rows.length === 0 ? c.dim('  (none)') : drawTable(head, rows);
}

/**
 * What one cli-table3 Table of all rows draws, in time linear in rows: widths are measured once
 * over all cells, then chunks of rows are drawn at those fixed widths and joined without the
 * borders between chunks.
 */
export function drawTable(head: string[], rows: string[][], chunkRows = TABLE_CHUNK_ROWS): string {
  // As cli-table3 sizes a column: its widest cell plus one space of padding each side.
  const colWidths = head.map((cell, i) => rows.reduce((width, row) => Math.max(width, strlen(row[i] ?? '') + 2), strlen(cell) + 2));
  const lines: string[] = [];
  for (let start = 0; start < rows.length; start += chunkRows) {
    const first = start === 0;
    const last = start + chunkRows >= rows.length;
    const t = new Table({
      head: first ? head : [],
      colWidths,
      style: { head: [], border: [] },
      chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
    });
    t.push(...rows.slice(start, start + chunkRows));
    const drawn = t.toString().split('\n');
    lines.push(...drawn.slice(first ? 0 : 1, last ? drawn.length : -1));
  }
  return lines.join('\n');
}

function renderStatus(view: QueueView, c: ChalkInstance): string {
  const daemon = view.daemon.running
    ? `${c.green('up')} (pid ${view.daemon.pid}${view.daemon.host ? ` on ${view.daemon.host}` : ''}, since ${view.daemon.since})`
    : c.red('not running');
  const gpuList = view.gpus.map(
    (gpu) => `${gpu.index}:${gpu.state === 'free' ? c.green('free') : gpu.state === 'held' ? c.yellow(`job ${gpu.job}`) : c.red('busy')}`,
  );
  const lines = [
    `${c.bold('Daemon')}  ${daemon}`,
    ...(view.daemon.engine && !view.daemon.engine.reachable
      ? [
          `${c.bold('Engine')}  ${c.red(`unreachable since ${view.daemon.engine.since ?? '?'}`)}${view.daemon.engine.error ? ` (${view.daemon.engine.error})` : ''}: nothing starts; pushes are kept`,
        ]
      : []),
    ...(view.daemon.state_not_saved
      ? [
          `${c.bold('State')}   ${c.red(`not saved since ${view.daemon.state_not_saved.since}: ${view.daemon.state_not_saved.error}`)}; running jobs go on, none start`,
        ]
      : []),
    ...reloadLine(view.daemon.reload, c),
    `${c.bold('Policy')}  ${view.policy}${view.paused ? `  ${c.red(`paused by ${view.paused.by} since ${view.paused.since}: no new jobs start`)}` : ''}`,
    `${c.bold('GPUs')}    ${view.gpus_free}/${view.gpus_total} free${gpuList.length ? `  [${gpuList.join(' ')}]` : ''}`,
  ];
  if (view.reservation)
    lines.push(
      `${c.bold('Reserved')} GPUs ${gpuLabels(view, view.reservation.gpus)} for job ${view.reservation.job} from ${view.reservation.at}`,
    );
  return lines.join('\n');
}

/** The last config reload, when it says something: refused (the old config stays), or keys that wait for a restart. */
function reloadLine(reload: QueueView['daemon']['reload'], c: ChalkInstance): string[] {
  if (!reload) return [];
  if (!reload.applied) {
    const more = reload.errors.length > 1 ? ` (and ${reload.errors.length - 1} more)` : '';
    return [
      `${c.bold('Config')}  ${c.red(`reload refused at ${reload.at} (${reload.by}): ${reload.errors[0] ?? '?'}${more}`)}; the running config stays`,
    ];
  }
  return reload.pending_restart.length > 0
    ? [`${c.bold('Config')}  ${c.yellow(`${reload.pending_restart.join(', ')} changed: applied on restart`)}`]
    : [];
}

const since = (iso: string | null, now: number): string => (iso === null ? '-' : formatDuration((now - Date.parse(iso)) / 1000));

function gpuLabels(view: QueueView, ids: string[]): string {
  const index = new Map(view.gpus.map((gpu) => [gpu.id, gpu.index]));
  return ids.map((id) => String(index.get(id) ?? id)).join(',') || '-';
}

function runningTable(view: QueueView, now: number, c: ChalkInstance): string {
  const rows = view.jobs
    .filter((job) => job.state === 'running')
    .map((job) => [String(job.id), job.user, nameOf(job), gpuLabels(view, job.gpus), since(job.started_at, now)]);
  return table(['id', 'user', 'name', 'gpus', 'runtime'], rows, c);
}

const WAITING_FOR: Record<string, string> = {
  held: 'held',
  paused: 'queue paused',
  reserved: 'GPUs reserved',
  'too-big': 'more GPUs than usable',
  'user-cap': 'at per-user GPU cap',
  image: 'image to build',
  building: 'building its image',
};

/** `now`, `in 2h10m`, or why it cannot be known. */
function startCell(job: JobView, now: number, c: ChalkInstance): string {
  const note = job.waiting_for ? WAITING_FOR[job.waiting_for] : undefined;
  if (job.estimated_start === null) return c.dim(note ?? '-');
  const wait = (Date.parse(job.estimated_start) - now) / 1000;
  const when = wait <= 0 ? 'now' : `in ${formatDuration(wait)}`;
  return note ? `${when} (${note})` : when;
}

function queuedTable(view: QueueView, now: number, c: ChalkInstance): string {
  const rows = view.jobs
    .filter((job) => job.state === 'queued' || job.state === 'building')
    .sort((a, b) => (a.position ?? Infinity) - (b.position ?? Infinity) || a.id - b.id)
    .map((job) => [
      String(job.position ?? '-'),
      String(job.id),
      job.user,
      nameOf(job),
      job.ingested || job.gpus_requested > 0 ? String(job.gpus_requested) : '?',
      since(job.submitted_at, now),
      startCell(job, now, c),
    ]);
  return table(['#', 'id', 'user', 'name', 'gpus', 'waiting', 'est. start'], rows, c);
}

/** A job's name, with its attempt when an engine restart made it run again. */
function nameOf(job: JobView): string {
  return job.attempt > 1 ? `${job.name} (attempt ${job.attempt})` : job.name;
}

function outcome(job: JobView, c: ChalkInstance): string {
  const text = job.reason && job.reason !== 'exited' ? `${job.state} (${job.reason})` : job.state;
  return job.state === 'done' ? c.green(text) : job.state === 'cancelled' ? c.yellow(text) : c.red(text);
}

/** Newest first; past `limit`, one line counts the rest (`q --json` and `q --all` keep them all). */
function finishedTable(view: QueueView, limit: number | undefined, c: ChalkInstance): string {
  const finished = view.jobs
    .filter((job) => ['done', 'failed', 'cancelled', 'rejected'].includes(job.state))
    .sort((a, b) => Date.parse(b.finished_at ?? '') - Date.parse(a.finished_at ?? '') || b.id - a.id);
  const hidden = limit === undefined ? 0 : Math.max(0, finished.length - limit);
  const rows = finished
    .slice(0, finished.length - hidden)
    .map((job) => [
      String(job.id),
      job.user,
      nameOf(job),
      outcome(job, c),
      job.exit_code === null ? '-' : String(job.exit_code),
      job.started_at && job.finished_at ? formatDuration((Date.parse(job.finished_at) - Date.parse(job.started_at)) / 1000) : '-',
      truncate(job.message ?? '', 60),
    ]);
  const drawn = table(['id', 'user', 'name', 'outcome', 'exit', 'duration', 'detail'], rows, c);
  return hidden > 0 ? `${drawn}\n${c.dim(`  ... ${hidden} older not shown; dopq q --all shows them`)}` : drawn;
}

function usersTable(view: QueueView, c: ChalkInstance): string {
  const rows = view.users.map((user) => [
    user.user,
    String(user.share),
    user.usage_gpu_hours.toFixed(2),
    user.penalty === null ? '-' : user.penalty.toFixed(2),
    String(user.running),
    String(user.gpus_held),
    String(user.queued),
  ]);
  const penalty = view.policy === 'dopq-classic' ? 'penalty (DoPQ)' : 'penalty (GPU-h/share)';
  return table(['user', 'share', 'usage (GPU-h)', penalty, 'running', 'gpus', 'queued'], rows, c);
}

function truncate(text: string, max: number): string {
  const line = text.split('\n')[0] ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
