// Times as people read them in `dopq q`'s header: local, to the minute, the day named when it is
// near (`today 14:03`, `yesterday 23:50`, `tomorrow 02:10`), else `2026-11-29 14:03`.
// The zone is a parameter (the TZ environment variable), so the output does not depend on the host.

const formatters = new Map<string, Intl.DateTimeFormat>();

/** A formatter for `timeZone`; the system's zone when it is absent or not one Intl knows. */
function formatter(timeZone: string | undefined): Intl.DateTimeFormat {
  // POSIX allows a leading colon (TZ=:Europe/Berlin); Intl does not.
  const zone = timeZone?.replace(/^:/, '') || undefined;
  const key = zone ?? '';
  let format = formatters.get(key);
  if (!format) {
    const options: Intl.DateTimeFormatOptions = {
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    };
    try {
      format = new Intl.DateTimeFormat('en-US', { ...options, timeZone: zone });
    } catch {
      format = new Intl.DateTimeFormat('en-US', options); // a POSIX rule such as UTC0, or a typo
    }
    formatters.set(key, format);
  }
  return format;
}

interface LocalParts {
  date: string;
  time: string;
  /** Days since 1970-01-01 of the local calendar date, to count days between two dates. */
  day: number;
}

function localParts(ms: number, timeZone: string | undefined): LocalParts {
  const part: Record<string, string> = {};
  for (const { type, value } of formatter(timeZone).formatToParts(new Date(ms))) part[type] = value;
  const [year, month, day] = [Number(part['year']), Number(part['month']), Number(part['day'])];
  return {
    date: `${part['year']}-${part['month']}-${part['day']}`,
    time: `${part['hour']}:${part['minute']}`,
    day: Date.UTC(year, month - 1, day) / 86_400_000,
  };
}

const NEAR_DAYS: Record<number, string> = { [-1]: 'yesterday', 0: 'today', 1: 'tomorrow' };

/** `ms` in the local time of `timeZone`, named relative to `now`'s day when within a day of it. */
export function localTime(ms: number, now: number, timeZone?: string): string {
  if (!Number.isFinite(ms)) return '?';
  const at = localParts(ms, timeZone);
  const near = NEAR_DAYS[at.day - localParts(now, timeZone).day];
  return `${near ?? at.date} ${at.time}`;
}
