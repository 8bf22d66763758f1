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

test('job arguments are ids, tasks, ranges or lists: log, rm, hold, release, top and wait refuse anything else', async (t) => {
  usage(t, await run(['log', 'x1']), /<id>: not a job: "x1"; expected a job id \(17\)/);
  usage(t, await run(['rm', '1', 'x']), /not a job: "x"/);
  for (const op of ['hold', 'release', 'top', 'wait'])
    usage(t, await run([op, '2', '1e3']), new RegExp(`dopq: ${op}: <id>: not a job: "1e3"`));
  usage(t, await run(['rm', '25-17']), /not a job: "25-17" \(the range 25-17 runs backwards\)/);
  usage(t, await run(['wait', '17,,19']), /not a job: "17,,19" \(an empty part\)/);
  usage(t, await run(['rm', '17,x']), /not a job: "17,x" \("x" is not a job\)/);
  usage(t, await run(['log', '1-3']), /one job only: "1-3"/);
  usage(t, await run(['log', '1,2']), /one job only: "1,2" names 1, 2/);
});

test('q and log options are checked: states, fields, intervals, counts, globs', async (t) => {
  usage(t, await run(['q', '--state', 'queued,sleeping']), /--state: not a job state: "sleeping"; expected queued, building/);
  usage(t, await run(['q', '--format', 'id,colour']), /--format: unknown field "colour"; expected some of id,task,name/);
  usage(t, await run(['q', '--watch', '0']), /--watch/, /not an interval: "0"/);
  usage(t, await run(['q', '-q', '--format', 'id']), /-q/, /--format/);
  usage(t, await run(['q', '--name', '[z-a]']), /--name: not a name pattern: "\[z-a\]"/);
  usage(t, await run(['q', '-u', 'a b']), /not a user name: "a b"/);
  usage(t, await run(['log', '1', '--tail', '-1']), /--tail/);
  usage(t, await run(['log', '1', '--since', 'soon']), /--since/, /not a duration: "soon"/);
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
