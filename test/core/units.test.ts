import test from 'ava';
import { formatDuration, parseDuration, parseSize } from '../../src/core/units.js';

test('sizes', (t) => {
  t.is(parseSize('512m'), 512 * 1024 ** 2);
  t.is(parseSize('32g'), 32 * 1024 ** 3);
  t.is(parseSize('1.5G'), 1.5 * 1024 ** 3);
  t.is(parseSize(1000), 1000);
  t.is(parseSize('12 kb'), 12 * 1024);
  t.is(parseSize('x'), undefined);
  t.is(parseSize('-1g'), undefined);
  t.is(parseSize(-5), undefined);
});

test('durations', (t) => {
  t.is(parseDuration('90m'), 5400);
  t.is(parseDuration('48h'), 172800);
  t.is(parseDuration('7d'), 604800);
  t.is(parseDuration('1h30m'), 5400);
  t.is(parseDuration('30'), 30);
  t.is(parseDuration(2.5), 2.5);
  t.is(parseDuration('1x'), undefined);
  t.is(parseDuration('h'), undefined);
  t.is(parseDuration('1h 30m'), undefined);
});

test('formatDuration', (t) => {
  t.is(formatDuration(5), '5s');
  t.is(formatDuration(65), '1m05s');
  t.is(formatDuration(3 * 3600 + 120), '3h02m');
  t.is(formatDuration(2 * 86400 + 3600), '2d01h');
});
