import test from 'ava';
import { parseManifest } from '../../src/core/job/manifest.js';
import { endEventType, jobEvent } from '../../src/core/job/job-events.js';
import type { JobRecord } from '../../src/core/job/job.js';
import { emailMessage, retryDelays, webhookBody } from '../../src/core/notify/notify-spec.js';
import { testConfig } from './fixtures.js';

const job: JobRecord = {
  id: 7,
  user: 'alice',
  uid: 1001,
  name: 'train',
  image: 'x',
  gpus_requested: 1,
  gpus: ['g0'],
  state: 'failed',
  submitted_at: 1000,
  started_at: 2000,
  finished_at: 3000,
  exit_code: 2,
  reason: 'exited',
  message: 'secret detail',
  time_limit: 3600,
  container_id: 'abc',
};

test('notify: takes events and channels, with the config default events', (t) => {
  const result = parseManifest('image: a\nnotify: {webhook: "https://hooks.example.org/x", email: a@example.org}\n', testConfig());
  t.true(result.ok);
  if (result.ok)
    t.deepEqual(result.manifest.notify, { on: ['end', 'fail'], webhook: 'https://hooks.example.org/x', email: 'a@example.org' });
  const all = parseManifest('image: a\nnotify: {on: all, email: a@example.org}\n', testConfig());
  t.true(all.ok && all.manifest.notify?.on.length === 4);
});

test('notify: refuses bad events, URLs, addresses, relative programs and no channel, by field and line', (t) => {
  const check = (notify: string, path: string, config = testConfig()) => {
    const result = parseManifest(`image: a\nnotify:\n${notify}`, config);
    t.false(result.ok, notify);
    if (!result.ok)
      t.true(
        result.issues.some((issue) => issue.path.startsWith(path) && issue.line !== undefined),
        JSON.stringify(result.issues),
      );
  };
  check('  on: [finish]\n  email: a@b.org\n', 'notify.on');
  check('  webhook: "file:///etc/passwd"\n', 'notify.webhook');
  check('  webhook: "http://u:p@host/"\n', 'notify.webhook');
  check('  email: "-oQ/tmp/x@a.org"\n', 'notify.email');
  check('  command: "notify-send"\n', 'notify.command');
  check('  on: [end]\n', 'notify');
  // The default config allows webhook and e-mail only: a command must be allowed by the admin.
  check('  command: [/bin/true]\n', 'notify.command');
});

test('notify: a command is taken where the config allows it', (t) => {
  const result = parseManifest('image: a\nnotify: {command: [/usr/bin/logger, "job done"]}\n', testConfig('notify: {channels: [command]}'));
  t.true(result.ok && result.manifest.notify?.command?.join(' ') === '/usr/bin/logger job done');
});

test('notify.* in the config: defaults and checks', (t) => {
  const config = testConfig();
  t.deepEqual(config.notify.channels, ['webhook', 'email']);
  t.is(config.notify.smtp, null);
  t.is(testConfig('notify: {smtp: "smtp://127.0.0.1:2525", timeout: 3s, retries: 1}').notify.timeout, 3);
  t.throws(() => testConfig('notify: {channels: [pigeon]}'));
  t.throws(() => testConfig('notify: {retries: 99}'));
  t.throws(() => testConfig('notify: {sendmail: sendmail}'));
});

test('notify.smtp takes no user:password@: the config is read by every user, so the password would be theirs', (t) => {
  t.throws(() => testConfig('notify: {smtp: "smtp://dopq:secret@mail.example.org:587"}'), { message: /without user:password@/ });
  t.throws(() => testConfig('notify: {smtp: "smtps://secret@mail.example.org"}'));
  t.is(testConfig('notify: {smtp: "smtps://mail.example.org:465"}').notify.smtp, 'smtps://mail.example.org:465');
});

test('the retry schedule is bounded and backs off', (t) => {
  t.deepEqual(retryDelays(0), []);
  t.deepEqual(retryDelays(4), [1, 2, 4, 8]);
  t.true(retryDelays(10).every((delay) => delay <= 60));
});

test('end and fail events come once, on a change of state', (t) => {
  t.is(endEventType({ state: 'running' }, { state: 'done' }), 'end');
  t.is(endEventType({ state: 'running' }, { state: 'cancelled' }), 'end');
  t.is(endEventType({ state: 'running' }, { state: 'failed' }), 'fail');
  t.is(endEventType({ state: 'queued' }, { state: 'rejected' }), 'fail');
  t.is(endEventType({ state: 'failed' }, { state: 'failed' }), undefined);
  t.is(endEventType({ state: 'queued' }, { state: 'running' }), undefined);
});

test('the payload holds the job own fields only: no message, image, container or GPUs', (t) => {
  const body = JSON.parse(webhookBody(jobEvent('fail', job))) as Record<string, unknown>;
  t.deepEqual(body, {
    event: 'fail',
    job: {
      id: 7,
      name: 'train',
      user: 'alice',
      uid: 1001,
      state: 'failed',
      reason: 'exited',
      exit_code: 2,
      submitted_at: 1000,
      started_at: 2000,
      finished_at: 3000,
    },
    usage: null,
  });
  const mail = emailMessage(jobEvent('fail', job, { gpu_util_percent_mean: 40 }));
  t.is(mail.subject, 'dopq job 7 (train): failed');
  t.regex(mail.text, /gpu_util_percent_mean: 40/);
  t.notRegex(mail.text, /secret/);
});

test("a finished record's usage summary goes with its event; an explicit one wins", (t) => {
  const withSummary = { ...job, usage_summary: { cpu_percent_mean: 50, memory_peak_bytes: 1024 } };
  t.deepEqual(jobEvent('end', withSummary).usage, { cpu_percent_mean: 50, memory_peak_bytes: 1024 });
  t.deepEqual(jobEvent('idle', withSummary, { gpu_util_percent: 0 }).usage, { gpu_util_percent: 0 });
  t.false('usage' in jobEvent('end', { ...job, usage_summary: null }));
});

test('an e-mail address is checked in linear time: a long domain ending badly is refused at once, not after hours', (t) => {
  // The root daemon checks every pushed manifest: a check that backtracks would stall its passes.
  // Before: 26 letters took a quarter second and every 2 more took 4 times as long.
  const result = parseManifest(`image: a\nnotify: {email: "a@${'a'.repeat(200)}!"}\n`, testConfig());
  t.false(result.ok);
  const dotted = parseManifest(`image: a\nnotify: {email: "a@${'a-'.repeat(100)}.${'a.'.repeat(100)}-"}\n`, testConfig());
  t.false(dotted.ok);
  for (const good of ['a@example.org', 'first.last+tag@sub-1.example.co.uk', 'x@localhost'])
    t.true(parseManifest(`image: a\nnotify: {email: "${good}"}\n`, testConfig()).ok, good);
  for (const bad of ['-oQ@a.org', 'a@b..c', 'a@-b.org', 'a@b-.org', 'a@b.org.', `a@${'b'.repeat(64)}.org`])
    t.false(parseManifest(`image: a\nnotify: {email: "${bad}"}\n`, testConfig()).ok, bad);
});
