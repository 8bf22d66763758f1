// state/usage-history.jsonl: the daemon appends one point a minute (core/view/usage-history.ts)
// and rewrites it without the points older than 24 h now and then; `dopq web` reads it for its
// charts, as any user reads the state (0644), so a restarted dashboard still shows the last day.
import { appendFile, chmod, readFile } from 'node:fs/promises';
import { HISTORY_WINDOW_MS, parseHistory, type HistoryPoint } from '../../core/view/usage-history.js';
import { writeFileAtomic } from '../files/atomic-write.js';

/** One line on the end: no fsync (a lost minute costs a gap in a chart, nothing more). */
export async function appendHistoryPoint(file: string, point: HistoryPoint): Promise<void> {
  await appendFile(file, `${JSON.stringify(point)}\n`, { mode: 0o644 });
}

/** The file with only the last window's points; the number of points kept. */
export async function pruneHistory(file: string, now: number): Promise<number> {
  const points = await readHistory(file, now);
  await writeFileAtomic(file, points.map((point) => `${JSON.stringify(point)}\n`).join(''), { mode: 0o644, noSync: true });
  await chmod(file, 0o644);
  return points.length;
}

/** The last window's points, oldest first; none when there is no file yet. */
export async function readHistory(file: string, now: number, windowMs = HISTORY_WINDOW_MS): Promise<HistoryPoint[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return parseHistory(text, now, windowMs);
}
