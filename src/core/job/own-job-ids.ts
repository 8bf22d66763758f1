// Which of a user's jobs a command can take, for shell completion: `dopq rm <TAB>` offers the
// caller's jobs still queued or running (so does `wait`), `log` all of theirs, `release` only
// those held, `push --after` all of theirs, `attach` their interactive ones not finished.
import { FINISHED_STATES, type JobRecord } from './job.js';

export type IdCommand = 'rm' | 'hold' | 'release' | 'top' | 'log' | 'wait' | 'push' | 'attach';

const waiting = (job: Pick<JobRecord, 'state'>) => job.state === 'queued' || job.state === 'building';

type Judged = Pick<JobRecord, 'state' | 'held_by'> & Partial<Pick<JobRecord, 'interactive'>>;

const TAKES: Record<IdCommand, { recorded: (job: Judged) => boolean; pending: boolean }> = {
  rm: { recorded: (job) => !FINISHED_STATES.includes(job.state), pending: true },
  hold: { recorded: (job) => waiting(job) && job.held_by === undefined, pending: true },
  release: { recorded: (job) => waiting(job) && job.held_by !== undefined, pending: false },
  top: { recorded: waiting, pending: true },
  log: { recorded: () => true, pending: true },
  // push --after / --after-any: any job of yours, finished or not.
  push: { recorded: () => true, pending: true },
  attach: { recorded: (job) => job.interactive === true && !FINISHED_STATES.includes(job.state), pending: false },
  wait: { recorded: (job) => !FINISHED_STATES.includes(job.state), pending: true },
};

export function isIdCommand(command: string): command is IdCommand {
  return Object.hasOwn(TAKES, command);
}

/**
 * The ids `uid` owns that `command` can take, ascending: from the daemon's records, and from
 * the intake files not read yet (`pending`, by their owners' uids).
 */
export function ownJobIds(
  command: IdCommand,
  uid: number,
  jobs: readonly (Pick<JobRecord, 'id' | 'uid' | 'state' | 'held_by'> & Partial<Pick<JobRecord, 'interactive'>>)[],
  pending: readonly { id: number; uid: number }[],
): number[] {
  const takes = TAKES[command];
  const ids = new Set(jobs.filter((job) => job.uid === uid && takes.recorded(job)).map((job) => job.id));
  const recorded = new Set(jobs.map((job) => job.id));
  if (takes.pending) for (const job of pending) if (job.uid === uid && !recorded.has(job.id)) ids.add(job.id);
  return [...ids].sort((a, b) => a - b);
}
