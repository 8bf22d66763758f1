// The options of `q` (filters and views), `rm` (bulk filters) and `log` (--tail, --since), kept
// here so program.ts only registers them; each is checked as commander parses it (exit 64).
import { Option, type Command } from 'commander';
import { parseFields } from '../core/view/job-fields.js';
import { globPattern, parseStateFilters } from '../core/view/job-filter.js';
import { asArgParser, collectUserNames, countParser, parseInterval, parseSeconds } from './args.js';

const stateOption = (states: string) =>
  new Option('--state <states>', `only jobs in these states, comma-separated (${states})`).argParser(asArgParser(parseStateFilters));
const nameOption = () =>
  new Option('--name <glob>', 'only jobs whose name matches the glob (*, ?, [...])').argParser(
    asArgParser((glob) => (globPattern(glob), glob)),
  );

/** `q -u USER --me --state S --name GLOB -q --format FIELDS --watch [SECONDS] --expand`. */
export function addQueueViewOptions(command: Command): Command {
  return command
    .addOption(new Option('-u, --user <user>', "only these users' jobs (a name, or names joined with commas)").argParser(collectUserNames))
    .option('--me', 'only your own jobs')
    .addOption(stateOption('queued, running, held, active, ...'))
    .addOption(nameOption())
    .addOption(
      new Option('-q, --quiet', 'print only job ids, one a line (jobs not finished, unless --state says)').conflicts(['json', 'format']),
    )
    .addOption(
      new Option(
        '--format <fields>',
        'one table with these columns (with --json: these keys of each job), e.g. id,user,state,time_left',
      ).argParser(asArgParser(parseFields)),
    )
    .addOption(new Option('--watch [seconds]', 'redraw in place every SECONDS (default 2) until Ctrl-C').argParser(parseInterval))
    .option('--expand', "one row per array task, not one per array's queued tasks");
}

/** `rm --mine -u USER --state S --name GLOB`. */
export function addRmFilterOptions(command: Command): Command {
  return command
    .option('--mine', 'only your own jobs')
    .addOption(new Option('-u, --user <user>', "admins: only these users' jobs (names joined with commas)").argParser(collectUserNames))
    .addOption(stateOption('queued, held, building, running'))
    .addOption(nameOption());
}

/** `log --tail N --since DURATION`. */
export function addLogRangeOptions(command: Command): Command {
  return command
    .addOption(new Option('--tail <lines>', 'only the last N lines (then follow, with -f)').argParser(countParser(0)))
    .addOption(new Option('--since <duration>', 'only output written in the last DURATION (90s, 10m, 2h, 1d)').argParser(parseSeconds));
}
