// Commander setup and the one place that turns errors into `dopq: <subject>: <reason>` and an
// exit code. Commands return data or throw DopqError; they never print errors or exit.
// Options and arguments are checked as commander parses them (args.ts), so a bad one is a
// usage error (64) before any command runs.
import { Argument, Command, CommanderError, Option } from 'commander';
import { ExitCode } from '../core/errors.js';
import { POLICIES } from '../core/schedule/policy.js';
import {
  collectJobRefs,
  parseDate,
  parseJobId,
  parseListen,
  parseOneJobRef,
  parseReportDate,
  parseSeconds,
  parseUserName,
} from './args.js';
import { addLogRangeOptions, addQueueViewOptions, addRmFilterOptions } from './job-options.js';
import type { JobRef } from '../core/job/job-ref.js';
import type { QueueOptions } from './commands/q.js';
import type { LogOptions } from './commands/log.js';
import type { RmOptions } from './commands/rm.js';
import { commandContext, type CommandContext, type GlobalOptions, type Output } from './context.js';
import { reportError, usageError } from './report.js';
import { packageVersion } from './version.js';
import { parseGpuCount } from './shell-args.js';
import type { SimOptions } from './commands/sim.js';
import type { PushOptions } from './commands/push.js';
import type { MetricsOptions } from './commands/metrics.js';
import type { WebOptions } from './commands/web.js';
import type { ReportOptions } from './commands/report.js';
import { pushFlagOptions, splitPushOperands } from './push-flags.js';

/** What every command's action needs: its context, loaded when it runs, and where its exit code goes. */
interface Wiring {
  ctx: () => Promise<CommandContext>;
  setExit: (code: number) => void;
  io: Output;
}

const jobIds = () => new Argument('<id...>', 'jobs: 17, a task 17_3, a range 17-25, a list 17,19').argParser(collectJobRefs);

// Commands are imported when run: `dopq push` need not load dockerode or chokidar.
export function buildProgram(io: Output, env: NodeJS.ProcessEnv, setExit: (code: number) => void): Command {
  const program = new Command('dopq')
    .description('A fair job queue that runs deep-learning jobs as Docker containers on shared GPUs')
    .version(packageVersion())
    .addOption(new Option('-c, --config <file>', 'config file (default: $DOPQ_CONFIG, /etc/dopq/dopq.yaml, or the bundled etc/dopq.yaml)'))
    .option('--debug', 'print stack traces')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .showSuggestionAfterError();
  const wiring: Wiring = { ctx: async () => commandContext(program.opts<GlobalOptions>(), io, env), setExit, io };
  addJobCommands(program, wiring);
  addJobControlCommands(program, wiring);
  addDaemonCommands(program, wiring);
  // Before any config is loaded: a config that does not load is one of its checks.
  program
    .command('doctor')
    .description('check the config, spool, engine, GPUs, host, disk, users and daemon: ok, warn or fail, with the fix')
    .option('--json', 'print the checks as a JSON array of {name, status, detail, hint}')
    .action(async (options: { json?: boolean }) =>
      setExit(await (await import('./commands/doctor.js')).doctorCommand(program.opts<GlobalOptions>(), io, env, options)),
    );
  addAdminCommands(program, wiring);
  addToolCommands(program, wiring);
  return program;
}

/** Submitting jobs and looking at them: push, q, log. */
function addJobCommands(program: Command, { ctx, setExit }: Wiring): void {
  const push = program
    .command('push')
    .description('validate a job manifest (or flags) and queue it; prints the job id')
    .argument('[file]', 'YAML manifest (see dopq-manifest(5)), - for standard input, or a DoPQ zip or folder')
    .option('--json', 'print {"id": N} (an array: {"id": N, "last_id": M})')
    .option('--wait', 'then block until the job (every task) ends, and exit as dopq wait does (with --json: its object only)');
  for (const option of pushFlagOptions()) push.addOption(option);
  push
    .argument('[command...]', 'after --: the command to run, exec form (sh -c "..." for a shell line)')
    .action(async (file: string | undefined, words: string[], options: PushOptions) => {
      const { file: manifest, command } = splitPushOperands(
        [...(file === undefined ? [] : [file]), ...words],
        // Commander keeps the command line there without typing it: where `--` is tells FILE from COMMAND.
        (program as Command & { rawArgs: string[] }).rawArgs,
      );
      const push = await import('./commands/push.js');
      push.assertPushOperands(manifest, command, options);
      setExit(await push.pushCommand(await ctx(), manifest, command, options));
    });

  const q = program
    .command('q')
    .alias('queue')
    .description('show running, queued and finished jobs, GPUs and user penalties')
    .option('--json', 'print one JSON object (fields in dopq(1))')
    .option('-a, --all', 'include all finished jobs, not only the last 24 hours')
    .option('-w, --wide', 'every column, nothing cut with …, whatever the terminal width');
  addQueueViewOptions(q).action(async (options: QueueOptions) =>
    setExit(await (await import('./commands/q.js')).queueCommand(await ctx(), options)),
  );

  const log = program
    .command('log')
    .description("print a job's output")
    .addArgument(new Argument('<id>', 'job id, or a task 17_3').argParser(parseOneJobRef))
    .option('-f, --follow', "keep printing output until the job ends; then exit as dopq wait does with the job's outcome");
  addLogRangeOptions(log).action(async (ref: JobRef, options: LogOptions) =>
    setExit(await (await import('./commands/log.js')).logCommand(await ctx(), ref, options)),
  );

  program
    .command('metrics')
    .description("print the queue's metrics in Prometheus' text format (the daemon serves them on metrics.listen)")
    .addOption(new Option('--serve <host:port>', 'serve /metrics there (the daemon starts this as metrics.user)').hideHelp())
    .action(async (options: MetricsOptions) => setExit(await (await import('./commands/metrics.js')).metricsCommand(await ctx(), options)));
  program
    .command('web')
    .description('serve the read-only web dashboard in the foreground, as an unprivileged user (the daemon serves it on web.listen)')
    .addOption(new Option('--listen <host:port>', 'where to serve it (default: web.listen, else 127.0.0.1:8080)').argParser(parseListen))
    .addOption(new Option('--serve <host:port>', 'serve it there (the daemon starts this as web.user)').hideHelp())
    .action(async (options: WebOptions) => setExit(await (await import('./commands/web.js')).webCommand(await ctx(), options)));
  program
    .command('report')
    .description('accounting: GPU-hours, jobs by outcome, waits and idle GPU-hours per user, day or week')
    .addOption(new Option('--since <date>', 'from this date (ISO 8601, or e.g. 30d ago as 30d)').argParser(parseReportDate))
    .addOption(new Option('--until <date>', 'up to this date (default: now)').argParser(parseReportDate))
    .addOption(new Option('--by <group>', 'one row per user, day or week (UTC)').choices(['user', 'day', 'week']).default('user'))
    .addOption(new Option('--json', 'print one JSON object').conflicts('csv'))
    .option('--csv', 'print CSV rows with a header')
    .action(async (options: ReportOptions) => setExit(await (await import('./commands/report.js')).reportCommand(await ctx(), options)));

  program
    .command('wait')
    .description("wait until the jobs end; exit with the job's exit code (several jobs: the highest), see EXIT STATUS in dopq(1)")
    .addArgument(jobIds())
    .option('--json', 'print {"exit_code": N, "jobs": [{id, state, reason, exit_code, wait_code}]} when they have ended')
    .action(async (refs: JobRef[], options: { json?: boolean }) =>
      setExit(await (await import('./commands/wait.js')).waitCommand(await ctx(), refs, options)),
    );

  const shell = async () => import('./commands/shell.js');
  program
    .command('shell')
    .description('queue an interactive job; once it starts, this terminal is its terminal (Ctrl-P Ctrl-Q detaches)')
    .option('--image <image>', "the image (default: the config's interactive.image)")
    .addOption(new Option('--gpus <count>', 'GPUs (default: defaults.gpus)').argParser(parseGpuCount))
    .addOption(new Option('--time <duration>', 'time limit, e.g. 90m or 2h (default: defaults.time_limit)').argParser(parseSeconds))
    .argument('[command...]', 'after --: what to run instead of /bin/sh')
    .action(async (command: string[], options: { image?: string; gpus?: number; time?: number }) =>
      setExit(await (await shell()).shellCommand(await ctx(), command, options)),
    );
  program
    .command('attach')
    .description('join this terminal to your interactive job again (Ctrl-P Ctrl-Q detaches)')
    .addArgument(new Argument('<id>', 'job id').argParser(parseJobId))
    .action(async (id: number) => setExit(await (await shell()).attachCommand(await ctx(), id)));
}

/** What owners (and admins) do to queued and running jobs: rm, hold, release, top. */
function addJobControlCommands(program: Command, { ctx, setExit }: Wiring): void {
  const rm = program
    .command('rm')
    .description('cancel jobs: queued ones are removed, running ones stopped; by id, or all of yours that match the filters')
    .addArgument(new Argument('[id...]', 'jobs: 17, a task 17_3, an array or range 17-25, a list 17,19').argParser(collectJobRefs));
  addRmFilterOptions(rm).action(async (refs: JobRef[], options: RmOptions) =>
    setExit(await (await import('./commands/rm.js')).rmCommand(await ctx(), refs, options)),
  );

  for (const [op, description] of [
    ['hold', 'keep queued jobs from starting (they keep their place) until released'],
    ['release', 'let held jobs start again'],
    ['top', "move your queued jobs ahead of your other queued jobs (never ahead of other users')"],
  ] as const) {
    program
      .command(op)
      .description(description)
      .addArgument(jobIds())
      .action(async (refs: JobRef[]) =>
        setExit(await (await import('./commands/job-control.js')).jobControlCommand(await ctx(), op, refs)),
      );
  }
}

/** Setting up the spool and running the daemon on it (root). */
function addDaemonCommands(program: Command, { ctx, setExit }: Wiring): void {
  program
    .command('init')
    .description('as root: create the spool, or give it back its owners and modes; then check it and the config')
    .option('--repair', 'instead: put back state.json.prev if state.json is damaged, saying what was restored and what is lost')
    .action(async (options: { repair?: boolean }) => setExit(await (await import('./commands/init.js')).initCommand(await ctx(), options)));

  program
    .command('run')
    .description('run the queue daemon on the spool (as root; one per spool)')
    .option('--once', 'do one full pass (ingest, reap, cancel, schedule, start) and exit: for cron')
    .action(async (options: { once?: boolean }) => setExit(await (await import('./commands/run.js')).runCommand(await ctx(), options)));

  // On a Slurm node, as root: the batch script's helper and Slurm's Epilog (README "More than one server").
  program
    .command('node-run', { hidden: true })
    .addArgument(new Argument('<id>', 'job id').argParser(parseJobId))
    .action(async (id: number) => setExit(await (await import('./commands/node.js')).nodeRunCommand(await ctx(), id)));
  program
    .command('node-epilog', { hidden: true })
    .action(async () => setExit(await (await import('./commands/node.js')).nodeEpilogCommand(await ctx())));
}

/** Admins' requests on the whole queue, which the running daemon applies. */
function addAdminCommands(program: Command, { ctx, setExit }: Wiring): void {
  const admin = async () => import('./commands/admin.js');
  program
    .command('pause')
    .description('admin: start no new jobs until resume; running jobs continue')
    .action(async () => setExit(await (await admin()).pauseCommand(await ctx(), true)));
  program
    .command('resume')
    .description('admin: start jobs again after pause')
    .action(async () => setExit(await (await admin()).pauseCommand(await ctx(), false)));
  program
    .command('usage')
    .description('admin: manage recorded GPU usage')
    .command('reset')
    .description("admin: forget a user's GPU usage (all users' without USER), so their penalty starts from 0")
    .addArgument(new Argument('[user]', 'user name').argParser(parseUserName))
    .action(async (user: string | undefined) => setExit(await (await admin()).usageResetCommand(await ctx(), user)));
  program
    .command('history')
    .description('admin: manage finished jobs')
    .command('clear')
    .description('admin: remove finished jobs and their logs from the history (usage is kept)')
    .addOption(new Option('--before <date>', 'only jobs that ended before this date (ISO 8601)').argParser(parseDate))
    .action(async (options: { before?: number }) => setExit(await (await admin()).historyClearCommand(await ctx(), options)));
  program
    .command('shutdown')
    .description('admin: stop the running daemon cleanly; containers keep running')
    .addOption(new Option('--wait <seconds>', 'how long to wait for it to exit (seconds, or e.g. 2m)').default(30).argParser(parseSeconds))
    .action(async (options: { wait: number }) => setExit(await (await admin()).shutdownCommand(await ctx(), options)));
  program
    .command('reload')
    .description('admin: have the running daemon read its config again (as SIGHUP does); prints what changed or why it was refused')
    .addOption(
      new Option('--wait <seconds>', "how long to wait for the daemon's answer (seconds, or e.g. 2m)").default(30).argParser(parseSeconds),
    )
    .action(async (options: { wait: number }) => setExit(await (await import('./commands/reload.js')).reloadCommand(await ctx(), options)));
  program
    .command('slurm-setup')
    .description(
      "admin: print the slurm.conf priority lines and the sacctmgr commands for the config's half-life, shares and per-user GPU cap",
    )
    .action(async () => setExit(await (await import('./commands/slurm-setup.js')).slurmSetupCommand(await ctx())));
}

/** Commands that touch no spool: a DoPQ config converted, the scheduler on a trace, shell completion. */
function addToolCommands(program: Command, { ctx, setExit, io }: Wiring): void {
  program
    .command('convert')
    .description('print the dopq manifest for a DoPQ container_config.json (with the Dockerfile beside it)')
    .argument('<file>', 'container_config.json')
    .action(async (file: string) => setExit(await (await import('./commands/convert.js')).convertCommand(await ctx(), file)));

  program
    .command('sim')
    .description('run the scheduler on a trace with a virtual clock, without Docker (see dopq-sim(1))')
    .argument('<trace>', 'YAML trace')
    .addOption(new Option('--policy <policy>', "override the config's policy").choices(POLICIES).conflicts('compare'))
    .option('--compare', 'run every policy and print their summaries side by side')
    .option('--json', 'print {"jobs": [...], "summary": {...}} (with --compare: one per policy)')
    .option('--jobs', 'also print a table of every job')
    .action(async (trace: string, options: SimOptions) =>
      setExit(await (await import('./commands/sim.js')).simCommand(await ctx(), trace, options)),
    );

  const completion = async () => import('./commands/completion.js');
  program
    .command('completion')
    .description('print the bash or zsh completion script (commands, options, your job ids)')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(['bash', 'zsh']))
    .action(async (shell: 'bash' | 'zsh') => setExit((await completion()).completionCommand(program, io, shell)));
  program
    .command('__complete-ids', { hidden: true })
    .argument('<command>')
    .action(async (command: string) => setExit(await (await completion()).completeIdsCommand(await ctx(), command)));
}

export async function main(argv: string[], io: Output = processOutput(), env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let code: number = ExitCode.ok;
  const program = buildProgram(io, env, (c) => (code = c));
  const parse = watchParse(program);
  try {
    await program.parseAsync(argv);
    return code;
  } catch (error) {
    const debug = Boolean(program.opts<GlobalOptions>().debug);
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return ExitCode.ok;
      // Help on stderr (exit code 1) answers `dopq` or `dopq usage` without a command: a usage error.
      if (error.code === 'commander.help') return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
      const command = parse.failed ?? program;
      return reportError(usageError(error, command), io, { debug, json: asksForJson(command, argv) });
    }
    return reportError(error, io, { debug, json: parse.ran !== undefined && asksForJson(parse.ran, argv) });
  }
}

/**
 * Which command commander refused, and which one ran: each command's own outputError records
 * itself (commander says only the message), and nothing is printed there, since
 * reportError prints every error in dopq's form.
 */
function watchParse(program: Command): { failed?: Command; ran?: Command } {
  const seen: { failed?: Command; ran?: Command } = {};
  const all = (command: Command): Command[] => [command, ...command.commands.flatMap(all)];
  for (const command of all(program)) command.configureOutput({ outputError: () => (seen.failed = command) });
  program.hook('preAction', (_program, action) => {
    seen.ran = action;
  });
  return seen;
}

/** `--json` on a command that has it: its errors go to stdout as JSON too (report.ts). */
function asksForJson(command: Command, argv: string[]): boolean {
  const operands = argv.slice(2);
  const end = operands.indexOf('--');
  return command.options.some((option) => option.long === '--json') && (end < 0 ? operands : operands.slice(0, end)).includes('--json');
}

/** A reader that went away (`dopq log 12 | head -2`) ends the command at once and quietly, as SIGPIPE ends git or cat. */
export const CLOSED_OUTPUT_EXIT = 128 + 13; // the status a shell gives a process killed by SIGPIPE

function processOutput(): Output {
  // Node ignores SIGPIPE, so a closed pipe is an EPIPE error event on the stream; unhandled, a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(CLOSED_OUTPUT_EXIT);
      throw error;
    });
  }
  return { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s), isTTY: Boolean(process.stdout.isTTY) };
}
