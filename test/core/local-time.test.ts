// Header times in `dopq q`: local to the zone given (TZ), to the minute, the day named when near.
import test from 'ava';
import { localTime } from '../../src/core/view/local-time.js';

const now = Date.parse('2026-11-29T13:30:00Z');

test('today, yesterday and tomorrow by the local calendar, else the date; no seconds, no ISO', (t) => {
  t.is(localTime(Date.parse('2026-11-29T13:03:59Z'), now, 'UTC'), 'today 13:03');
  t.is(localTime(Date.parse('2026-11-29T13:03:00Z'), now, 'Europe/Berlin'), 'today 14:03');
  t.is(localTime(Date.parse('2026-11-28T00:00:00Z'), now, 'UTC'), 'yesterday 00:00');
  t.is(localTime(Date.parse('2026-11-30T23:59:00Z'), now, 'UTC'), 'tomorrow 23:59');
  t.is(localTime(Date.parse('2026-11-27T23:59:00Z'), now, 'UTC'), '2026-11-27 23:59');
  t.is(localTime(Date.parse('2027-01-02T08:00:00Z'), now, 'UTC'), '2027-01-02 08:00');
});

test("the day is the zone's: 22:30 in Tokyo is already tomorrow in UTC terms of a 13:30Z clock", (t) => {
  // now is 22:30 on the 29th in Tokyo; 16:00Z is 01:00 on the 30th there.
  t.is(localTime(Date.parse('2026-11-29T16:00:00Z'), now, 'Asia/Tokyo'), 'tomorrow 01:00');
  t.is(localTime(Date.parse('2026-11-29T16:00:00Z'), now, 'America/Los_Angeles'), 'today 08:00');
});

test('midnight is 00:00 (not 24:00); a POSIX TZ with a colon works; an unknown zone falls back, never throws', (t) => {
  t.is(localTime(Date.parse('2026-11-29T00:00:00Z'), now, 'UTC'), 'today 00:00');
  t.is(localTime(Date.parse('2026-11-29T13:03:00Z'), now, ':Europe/Berlin'), 'today 14:03');
  t.regex(localTime(Date.parse('2026-11-29T13:03:00Z'), now, 'Not/A_Zone'), /^(today|yesterday|tomorrow) \d{2}:\d{2}$/);
  t.is(localTime(Number.NaN, now, 'UTC'), '?');
});
