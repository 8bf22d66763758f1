// `notify:` in a manifest and `notify.*` in the config: which job events reach the owner, and how.
import * as z from 'zod';
import { JOB_EVENT_TYPES, type JobEvent, type JobEventType } from '../job/job-events.js';
import { parseDuration } from '../units.js';

export const NOTIFY_CHANNELS = ['webhook', 'email', 'command'] as const;
export type NotifyChannel = (typeof NOTIFY_CHANNELS)[number];

/** A manifest's `notify:`: the events, and at least one channel. */
export interface NotifySpec {
  on: JobEventType[];
  webhook?: string;
  email?: string;
  /** Exec form, run as the job's owner; never through a shell. */
  command?: string[];
}

/** The config's `notify.*`: what the server allows and how it sends. */
export interface NotifyConfig {
  channels: NotifyChannel[];
  /** Events when a manifest's `notify:` has no `on:`. */
  on: JobEventType[];
  /** Seconds one attempt may take. */
  timeout: number;
  /** Attempts after the first one fails. */
  retries: number;
  /** Private, loopback and link-local webhook destinations allowed (addresses or CIDR); public ones always are. */
  webhook_allow: string[];
  sendmail: string;
  /** `smtp://host:port` (or smtps://): send through it instead of sendmail. */
  smtp: string | null;
  from: string;
}

export const DEFAULT_NOTIFY_CONFIG: NotifyConfig = {
  channels: ['webhook', 'email'],
  on: ['end', 'fail'],
  timeout: 10,
  retries: 3,
  webhook_allow: [],
  sendmail: '/usr/sbin/sendmail',
  smtp: null,
  from: 'dopq@localhost',
};

// A plain address: no spaces, quotes, angle brackets or a leading dash (sendmail would read an option).
// The domain is dot-separated labels, each starting and ending with a letter or digit: a form with
// one way to match, so the root daemon's check of a pushed manifest takes linear time (no backtracking).
const DOMAIN_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
export const EMAIL_ADDRESS = new RegExp(`^[A-Za-z0-9._%+=][A-Za-z0-9._%+=~-]{0,63}@${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*$`);

const events = z
  .union([z.enum(JOB_EVENT_TYPES), z.array(z.enum(JOB_EVENT_TYPES)).min(1), z.literal('all')], {
    error: `expected events among ${JOB_EVENT_TYPES.join(', ')}, or all`,
  })
  .transform((value): JobEventType[] => (value === 'all' ? [...JOB_EVENT_TYPES] : Array.isArray(value) ? [...new Set(value)] : [value]));

const webhookUrl = z.string({ error: 'expected an http:// or https:// URL' }).refine(
  (text) => {
    try {
      const url = new URL(text);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === '' && text.length <= 2048;
    } catch {
      return false;
    }
  },
  { error: 'expected an http:// or https:// URL (without user:password@)' },
);

export const notifySchema = z
  .strictObject(
    {
      on: events.optional(),
      webhook: webhookUrl.optional(),
      email: z
        .string({ error: 'expected an e-mail address' })
        .regex(EMAIL_ADDRESS, { error: 'expected a plain e-mail address such as alice@example.org' })
        .optional(),
      command: z
        .union([z.string().min(1), z.array(z.union([z.string(), z.number()]).transform(String)).min(1)], {
          error: 'expected a program path, or a list: the program and its arguments',
        })
        .transform((value) => (typeof value === 'string' ? [value] : value))
        .refine((argv) => argv[0]!.startsWith('/'), { error: 'the program must be an absolute path (no shell runs it)' })
        .optional(),
    },
    { error: 'expected a map: {on: [start, end, fail, idle], webhook: URL, email: address, command: [program, args...]}' },
  )
  .refine((value) => value.webhook !== undefined || value.email !== undefined || value.command !== undefined, {
    error: 'give at least one of webhook, email or command',
  });

export type RawNotify = z.output<typeof notifySchema>;

/** Channels a manifest asks for that the server does not allow, by field. */
export function disallowedChannels(raw: RawNotify, config: NotifyConfig): NotifyChannel[] {
  return NOTIFY_CHANNELS.filter((channel) => raw[channel] !== undefined && !config.channels.includes(channel));
}

export function notifySpecOf(raw: RawNotify, config: NotifyConfig): NotifySpec {
  return {
    on: raw.on ?? config.on,
    ...(raw.webhook !== undefined ? { webhook: raw.webhook } : {}),
    ...(raw.email !== undefined ? { email: raw.email } : {}),
    ...(raw.command !== undefined ? { command: raw.command } : {}),
  };
}

const duration = (what: string) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    const seconds = parseDuration(value);
    if (seconds === undefined || seconds <= 0) {
      ctx.addIssue({ code: 'custom', message: `expected a duration such as 10s for ${what}` });
      return z.NEVER;
    }
    return seconds;
  });

export const notifyConfigSchema = z
  .strictObject({
    channels: z
      .array(z.enum(NOTIFY_CHANNELS, { error: `expected channels among ${NOTIFY_CHANNELS.join(', ')}` }))
      .default(DEFAULT_NOTIFY_CONFIG.channels),
    on: events.default(DEFAULT_NOTIFY_CONFIG.on),
    timeout: duration('notify.timeout').default(DEFAULT_NOTIFY_CONFIG.timeout),
    retries: z
      .number({ error: 'expected a whole number of retries' })
      .int()
      .min(0)
      .max(10, { error: 'at most 10 retries' })
      .default(DEFAULT_NOTIFY_CONFIG.retries),
    webhook_allow: z.array(z.string().min(1), { error: 'expected a list of addresses or CIDR ranges such as 10.1.0.0/16' }).default([]),
    sendmail: z.string().startsWith('/', { error: 'expected an absolute path' }).default(DEFAULT_NOTIFY_CONFIG.sendmail),
    // No user:password@: every user reads this file (the CLI loads it), so a password here is everyone's.
    smtp: z
      .string()
      .regex(/^smtps?:\/\/[^\s/@]+(:\d+)?\/?$/, {
        error: 'expected smtp://host:port or smtps://host:port, without user:password@ (every user can read the config)',
      })
      .optional(),
    from: z.string().regex(EMAIL_ADDRESS, { error: 'expected a plain e-mail address' }).default(DEFAULT_NOTIFY_CONFIG.from),
  })
  .default({ ...DEFAULT_NOTIFY_CONFIG, smtp: undefined })
  .transform((raw): NotifyConfig => ({ ...raw, smtp: raw.smtp ?? null }));

/** Seconds to wait before each retry: 1, 2, 4, ... capped at 60 (the first attempt goes at once). */
export function retryDelays(retries: number): number[] {
  return Array.from({ length: retries }, (_, index) => Math.min(60, 2 ** index));
}

/** The webhook's JSON body: the event and the job's own fields, nothing else. */
export function webhookBody(event: JobEvent): string {
  return JSON.stringify({ event: event.event, job: event.job, usage: event.usage ?? null });
}

/** The e-mail's subject and plain-text body. */
export function emailMessage(event: JobEvent): { subject: string; text: string } {
  const { job } = event;
  const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());
  const subject = `dopq job ${job.id} (${job.name}): ${event.event === 'start' ? 'started' : event.event === 'idle' ? 'GPUs idle' : job.state}`;
  const lines = [
    `event: ${event.event}`,
    `job: ${job.id} ${job.name}`,
    `user: ${job.user}`,
    `state: ${job.state}${job.reason ? ` (${job.reason})` : ''}`,
    `exit code: ${job.exit_code ?? '-'}`,
    `submitted: ${when(job.submitted_at)}`,
    `started: ${when(job.started_at)}`,
    `finished: ${when(job.finished_at)}`,
    ...Object.entries(event.usage ?? {}).map(([key, value]: [string, unknown]) => `${key}: ${typeof value === 'number' ? value : '-'}`),
  ];
  return { subject, text: `${lines.join('\n')}\n` };
}

/** The environment a notify command gets: the event's fields, as strings (the JSON body comes on stdin). */
export function commandEnv(event: JobEvent): Record<string, string> {
  const { job } = event;
  return {
    DOPQ_EVENT: event.event,
    DOPQ_JOB_ID: String(job.id),
    DOPQ_JOB_NAME: job.name,
    DOPQ_JOB_STATE: job.state,
    DOPQ_JOB_REASON: job.reason ?? '',
    DOPQ_JOB_EXIT_CODE: job.exit_code === null ? '' : String(job.exit_code),
  };
}
