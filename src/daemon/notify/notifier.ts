// Job notifications in the background: each channel of the owner's `notify:` tried with bounded
// retries and timeouts; a failure is logged and never touches the job or waits a pass.
import { retryDelays, type NotifySpec } from '../../core/notify/notify-spec.js';
import type { JobEvent } from '../../core/job/job-events.js';
import { accountOf } from '../../io/host/users.js';
import { postWebhook, runCommand, sendEmail, type Owner } from '../../io/notify/senders.js';
import type { DaemonContext } from '../context.js';
import { loadSpec } from '../jobs/lifecycle.js';

/** Sends still under way (tests and a stopping daemon may wait for them; nothing else does). */
const inFlight = new Set<Promise<void>>();
/** Events waiting beyond these are dropped (and logged): memory stays bounded while a receiver is down. */
const MAX_PENDING = 1000;
/** One user's share of those: a user whose receiver hangs cannot crowd out everyone else's events. */
export const MAX_PENDING_PER_USER = 100;
const pendingByUid = new Map<number, number>();

/** A counting semaphore: a slot freed goes straight to the next in line, so a newcomer cannot slip in between. */
class Turns {
  private busy = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}

  get idle(): boolean {
    return this.busy === 0;
  }

  async run<T>(attempt: () => Promise<T>): Promise<T> {
    if (this.busy >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.busy++;
    try {
      return await attempt();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.busy--;
    }
  }
}

/** Attempts at once, all users together: a thousand jobs ending in one pass do not fork a thousand programs. */
const allTurns = new Turns(8);
/** Attempts at once of one user: half the shared slots at most, so a slow receiver of one user leaves the rest to everyone else. */
export const MAX_ATTEMPTS_PER_USER = 4;
const userTurns = new Map<number, Turns>();

async function inTurn<T>(uid: number, attempt: () => Promise<T>): Promise<T> {
  let mine = userTurns.get(uid);
  if (!mine) userTurns.set(uid, (mine = new Turns(MAX_ATTEMPTS_PER_USER)));
  try {
    return await mine.run(() => allTurns.run(attempt));
  } finally {
    if (mine.idle && userTurns.get(uid) === mine) userTurns.delete(uid);
  }
}

/**
 * Tell a job's owner about one of its events (start, end, fail, idle), if its manifest asked.
 * Returns at once; the sending runs in the background.
 */
export function notifyJobEvent(ctx: DaemonContext, event: JobEvent): void {
  const uid = event.job.uid;
  const mine = pendingByUid.get(uid) ?? 0;
  if (inFlight.size >= MAX_PENDING || mine >= MAX_PENDING_PER_USER) {
    const limit = mine >= MAX_PENDING_PER_USER ? `${MAX_PENDING_PER_USER} of this user's` : `${MAX_PENDING}`;
    ctx.log.error(`notify ${event.event}: ${limit} notifications already under way; this one is dropped`, event.job.id);
    return;
  }
  pendingByUid.set(uid, mine + 1);
  const sending = send(ctx, event).catch((error: unknown) =>
    ctx.log.error(`notify ${event.event}: ${error instanceof Error ? error.message : String(error)}`, event.job.id),
  );
  inFlight.add(sending);
  void sending.finally(() => {
    inFlight.delete(sending);
    const left = (pendingByUid.get(uid) ?? 1) - 1;
    if (left > 0) pendingByUid.set(uid, left);
    else pendingByUid.delete(uid);
  });
}

/** Resolves once every notification sent so far is delivered or given up. */
export async function notificationsSettled(): Promise<void> {
  while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
}

async function send(ctx: DaemonContext, event: JobEvent): Promise<void> {
  const spec = await loadSpec(ctx, event.job.id);
  // The spec's owner is the job file's owner: a notification only goes where that user asked.
  const notify: NotifySpec | undefined = spec?.uid === event.job.uid ? spec.manifest.notify : undefined;
  if (!notify || !notify.on.includes(event.event)) return;
  const config = ctx.config.notify;
  const account = await accountOf(event.job.uid);
  const owner: Owner | undefined = account && event.job.uid !== 0 ? { uid: event.job.uid, gid: account.gid, home: '/' } : undefined;
  const channels: [string, () => Promise<void>][] = [];
  // The server's allowed channels as they are now (a reload may have narrowed them since the push).
  if (notify.webhook && config.channels.includes('webhook')) channels.push(['webhook', () => postWebhook(notify.webhook!, event, config)]);
  if (notify.email && config.channels.includes('email') && owner)
    channels.push(['email', () => sendEmail(notify.email!, event, owner, config)]);
  if (notify.command && config.channels.includes('command') && owner)
    channels.push(['command', () => runCommand(notify.command!, event, owner, config)]);
  await Promise.all(
    channels.map(([name, attempt]) =>
      withRetries(() => inTurn(event.job.uid, attempt), retryDelays(config.retries)).catch((error: unknown) =>
        ctx.log.error(`notify ${event.event} by ${name} failed: ${error instanceof Error ? error.message : String(error)}`, event.job.id),
      ),
    ),
  );
}

async function withRetries(attempt: () => Promise<void>, delays: readonly number[]): Promise<void> {
  for (let index = 0; ; index++) {
    try {
      return await attempt();
    } catch (error) {
      if (index >= delays.length || (error as { code?: string }).code === 'EDESTDENIED') throw error;
      await new Promise((resolve) => setTimeout(resolve, delays[index]! * 1000).unref());
    }
  }
}
