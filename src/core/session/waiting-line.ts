// The line `dopq shell` keeps on stderr while its job waits: where it stands and when it should start.
import type { JobView } from '../view/queue-view.js';
import { localTime } from '../view/local-time.js';
import { formatDuration } from '../units.js';

const WHY: Record<string, string> = {
  held: 'held (dopq release ID)',
  paused: 'the queue is paused by an admin',
  reserved: 'GPUs are kept for an earlier job',
  'too-big': 'more GPUs than are free',
  'user-cap': 'at your per-user GPU cap',
  image: 'its image is being prepared',
  building: 'its image is being built',
};

/** `job 17 waits: 2nd to start, estimated start today 10:42 (in 5m00s); GPUs are kept for an earlier job` */
export function waitingLine(
  job: Pick<JobView, 'id' | 'state' | 'position' | 'estimated_start' | 'waiting_for'> | undefined,
  id: number,
  now: number,
  timeZone?: string,
): string {
  if (!job) return `job ${id} waits for the daemon to read it`;
  const parts: string[] = [];
  if (job.position !== null) parts.push(`${ordinal(job.position)} to start`);
  if (job.estimated_start !== null) {
    const at = Date.parse(job.estimated_start);
    parts.push(at <= now ? 'starting now' : `estimated start ${localTime(at, now, timeZone)} (in ${formatDuration((at - now) / 1000)})`);
  } else parts.push('no estimated start yet');
  const why = job.waiting_for ? `; ${WHY[job.waiting_for] ?? job.waiting_for}` : '';
  return `job ${id} ${job.state === 'building' ? 'builds its image' : 'waits'}: ${parts.join(', ')}${why}`;
}

export function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : (({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th');
  return `${n}${suffix}`;
}
