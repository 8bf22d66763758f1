// Refusals of what users dropped into the spool, one log line per user per pass (the first
// reason and how many more), so a user cannot fill the daemon's log by dropping many bad files
// or naming other users' jobs many times.
import type { DaemonContext } from '../context.js';

export class RefusalSummary {
  private readonly byUser = new Map<string, { count: number; message: string; id: number | undefined }>();

  /** `what`: how the rest are counted in the line, e.g. "refused or ignored requests". */
  constructor(private readonly what: string) {}

  add(user: string, message: string, id?: number): void {
    const seen = this.byUser.get(user);
    if (seen) seen.count += 1;
    else this.byUser.set(user, { count: 1, message, id });
  }

  flush(ctx: Pick<DaemonContext, 'log'>): void {
    for (const [user, { count, message, id }] of this.byUser) {
      ctx.log.error(count === 1 ? message : `${message} (and ${count - 1} more ${this.what} from ${user} in this pass)`, id);
    }
    this.byUser.clear();
  }
}
