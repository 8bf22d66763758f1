// Options and arguments are checked as commander parses them: a bad one is a usage error (64)
// that names the option or says what was expected, before any command runs or reads the config.
import test from 'ava';
import { runCli, type CliResult } from '../helpers/cli.js';

// No config exists at this path: a command that got past parsing would exit 78, not 64.
const run = (args: string[]): Promise<CliResult> => runCli(['--config', '/nonexistent/dopq.yaml', ...args]);

function usage(t: import('ava').ExecutionContext, result: CliResult, ...patterns: RegExp[]): void {
  t.is(result.code, 64, result.stderr);
  t.is(result.stdout, '');
  for (const pattern of patterns) t.regex(result.stderr, pattern);
}

test('shutdown --wait takes a duration, not anything', async (t) => {
  usage(t, await run(['shutdown', '--wait', 'abc']), /--wait/, /not a duration: "abc"/);
  usage(t, await run(['shutdown', '--wait', '-5']), /--wait/, /not a duration: "-5"/);
});

test('sim --policy with --compare is refused, naming both', async (t) => {
  usage(t, await run(['sim', '--policy', 'fifo', '--compare', 'trace.yaml']), /--policy/, /--compare/);
});

test('sim --policy lists the policies it accepts', async (t) => {
  usage(t, await run(['sim', '--policy', 'nope', 'trace.yaml']), /--policy: expected one of fairshare, fifo, dopq-classic, got "nope"/);
});

test('job ids are digits: log, rm, hold, release and top refuse anything else', async (t) => {
  usage(t, await run(['log', 'x1']), /not a job id: "x1"/);
  usage(t, await run(['rm', '1', 'x']), /not a job id: "x"/);
  for (const op of ['hold', 'release', 'top']) usage(t, await run([op, '2', '1e3']), /not a job id: "1e3"/);
});

test('history clear --before takes a date; usage reset takes a user name', async (t) => {
  usage(t, await run(['history', 'clear', '--before', 'yesterday']), /--before/, /not a date: "yesterday"/);
  usage(t, await run(['usage', 'reset', 'a b']), /not a user name: "a b"/);
});

test('arguments that parse reach the command, which then needs the config (78)', async (t) => {
  for (const args of [
    ['log', '7'],
    ['rm', '1', '2'],
    ['shutdown', '--wait', '2m'],
    ['sim', '--policy', 'fifo', 'trace.yaml'],
  ]) {
    const result = await run(args);
    t.is(result.code, 78, `${args.join(' ')}: ${result.stderr}`);
    t.regex(result.stderr, /cannot read the config named by --config: no such file/);
  }
});
