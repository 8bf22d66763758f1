// What shell completion knows about dopq, read from the commander program itself when the script
// is printed: every visible command, alias, option and argument, so the script never drifts.
import type { Argument, Command, Option } from 'commander';
import { JOB_FIELDS } from '../../core/view/job-fields.js';
import { STATE_FILTERS } from '../../core/view/job-filter.js';

/** What a word may be: job ids come from the spool, files and users from the shell. */
export type ValueKind = { kind: 'ids' } | { kind: 'files' } | { kind: 'users' } | { kind: 'choices'; choices: string[] } | { kind: 'none' };

export interface OptionSpec {
  /** `-c` and `--config`, as typed. */
  flags: string[];
  description: string;
  /** What follows the option; null when it takes no value. */
  value: ValueKind | null;
}

export interface CommandSpec {
  /** The command's words after `dopq`, by their main names: [] for dopq itself, ['usage', 'reset']. */
  path: string[];
  subcommands: { names: string[]; description: string }[];
  /** Its own options; the program's apply everywhere (commander reads them after a command too). */
  options: OptionSpec[];
  /** Its positional arguments, in order; the last repeats when `variadic`. */
  args: ValueKind[];
  variadic: boolean;
}

// Argument names dopq uses (`<id...>`, `<file>`, `[user]`) say what they take; lists joined with
// commas (`--state`, `--format`) are offered their first word.
const ARGUMENT_KINDS: Record<string, ValueKind> = {
  id: { kind: 'ids' },
  ids: { kind: 'ids' },
  file: { kind: 'files' },
  src: { kind: 'files' },
  trace: { kind: 'files' },
  user: { kind: 'users' },
  states: { kind: 'choices', choices: [...STATE_FILTERS] },
  fields: { kind: 'choices', choices: [...JOB_FIELDS] },
};

function valueKind(name: string, choices: readonly string[] | undefined): ValueKind {
  if (choices && choices.length > 0) return { kind: 'choices', choices: [...choices] };
  return ARGUMENT_KINDS[name] ?? { kind: 'none' };
}

function optionSpec(option: Option): OptionSpec {
  const flags = [option.short, option.long].filter((flag): flag is string => flag !== undefined);
  const takesValue = option.required || option.optional;
  const valueName = /[<[]([\w-]+)/.exec(option.flags)?.[1] ?? '';
  return { flags, description: option.description, value: takesValue ? valueKind(valueName, option.argChoices) : null };
}

function argumentKind(argument: Argument): ValueKind {
  return valueKind(argument.name(), argument.argChoices);
}

/** Every command of `program` that help shows (hidden ones left out), the program first. */
export function completionSpec(program: Command): CommandSpec[] {
  const help = program.createHelp();
  const specs: CommandSpec[] = [];
  const walk = (command: Command, path: string[]) => {
    const subcommands = help.visibleCommands(command);
    const args = command.registeredArguments.map(argumentKind);
    specs.push({
      path,
      subcommands: subcommands.map((sub) => ({ names: [sub.name(), ...sub.aliases()], description: sub.description() })),
      options: help.visibleOptions(command).map(optionSpec),
      args,
      variadic: command.registeredArguments.at(-1)?.variadic ?? false,
    });
    // The implicit `help [command]` is not in `commands`: its argument is one of its siblings.
    const siblings = command.commands.filter((sub) => subcommands.includes(sub)).map((sub) => sub.name());
    for (const sub of subcommands) {
      if (command.commands.includes(sub)) walk(sub, [...path, sub.name()]);
      else
        specs.push({
          path: [...path, sub.name()],
          subcommands: [],
          options: [],
          args: [{ kind: 'choices', choices: siblings }],
          variadic: false,
        });
    }
  };
  walk(program, []);
  return specs;
}
