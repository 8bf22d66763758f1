// The completion spec as shell functions of `case` tables, in the syntax bash and zsh share, so
// both scripts look commands, options and arguments up the same way. A command path is its
// words joined by spaces ('' for dopq itself, 'usage reset').
import type { CommandSpec, OptionSpec, ValueKind } from './spec.js';

/** A shell word that stays as written: '...' with each ' spelled '\''. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/** How a script reads a kind: ids, files, users, none, or `choices a b c`. */
export function kindWord(kind: ValueKind): string {
  return kind.kind === 'choices' ? `choices ${kind.choices.join(' ')}` : kind.kind;
}

const described = (name: string, description: string) => shellQuote(`${name}:${description.replace(/\s+/g, ' ')}`);

function lines(printed: string[]): string {
  return printed.length === 0 ? ':' : `printf '%s\\n' ${printed.join(' ')}`;
}

// Only the program's own: every command has its --help, and --version is the program's.
const PROGRAM_ONLY = new Set(['--help', '--version']);

/** The command's own options, then the program's (--config, --debug) that it does not redefine. */
function optionsAt(spec: CommandSpec, program: CommandSpec): OptionSpec[] {
  if (spec === program) return spec.options;
  const own = new Set(spec.options.flatMap((option) => option.flags));
  const global = program.options.filter((option) => !option.flags.some((flag) => own.has(flag) || PROGRAM_ONLY.has(flag)));
  return [...spec.options, ...global];
}

export function shellTables(specs: CommandSpec[]): string {
  const program = specs.find((spec) => spec.path.length === 0);
  if (!program) throw new Error('completion: the spec has no program');
  const key = (spec: CommandSpec) => shellQuote(spec.path.join(' '));
  const out: string[] = [];

  out.push('# __dopq_command PATH WORD: the main name of the command WORD names under PATH (aliases too).');
  out.push('__dopq_command() {', '  case "$1|$2" in');
  for (const spec of specs)
    for (const sub of spec.subcommands) {
      const patterns = sub.names.map((name) => shellQuote(`${spec.path.join(' ')}|${name}`)).join('|');
      out.push(`    ${patterns}) echo ${shellQuote(sub.names[0] ?? '')} ;;`);
    }
  out.push('  esac', '}', '');

  out.push('# __dopq_subcommands PATH: its commands, one "name:description" a line (aliases too).');
  out.push('__dopq_subcommands() {', '  case "$1" in');
  for (const spec of specs.filter((s) => s.subcommands.length > 0)) {
    const names = spec.subcommands.flatMap((sub) => sub.names.map((name) => described(name, sub.description)));
    out.push(`    ${key(spec)}) ${lines(names)} ;;`);
  }
  out.push('  esac', '}', '');

  out.push('# __dopq_options PATH: the options there, one "flag:description" a line (the program\'s apply everywhere).');
  out.push('__dopq_options() {', '  case "$1" in');
  for (const spec of specs) {
    const flags = optionsAt(spec, program).flatMap((option) => option.flags.map((flag) => described(flag, option.description)));
    out.push(`    ${key(spec)}) ${lines(flags)} ;;`);
  }
  out.push('  esac', '}', '');

  out.push('# __dopq_option_value PATH FLAG: what follows FLAG there (ids, files, users, none, choices ...), or flag if nothing does.');
  out.push('__dopq_option_value() {', '  case "$1|$2" in');
  for (const spec of specs.filter((s) => s !== program))
    for (const option of spec.options.filter((o) => o.value !== null)) {
      const patterns = option.flags.map((flag) => shellQuote(`${spec.path.join(' ')}|${flag}`)).join('|');
      out.push(`    ${patterns}) echo ${shellQuote(kindWord(option.value!))} ;;`);
    }
  for (const option of program.options.filter((o) => o.value !== null)) {
    const patterns = option.flags.map((flag) => `*${shellQuote(`|${flag}`)}`).join('|');
    out.push(`    ${patterns}) echo ${shellQuote(kindWord(option.value!))} ;;`);
  }
  out.push('    *) echo flag ;;', '  esac', '}', '');

  out.push('# __dopq_argument PATH N: what its positional argument N (from 0) is.');
  out.push('__dopq_argument() {', '  case "$1" in');
  for (const spec of specs.filter((s) => s.args.length > 0)) {
    const arms = spec.args.map(
      (kind, index) => `${spec.variadic && index === spec.args.length - 1 ? '*' : index}) echo ${shellQuote(kindWord(kind))} ;;`,
    );
    if (!spec.variadic) arms.push('*) echo none ;;');
    out.push(`    ${key(spec)}) case "$2" in ${arms.join(' ')} esac ;;`);
  }
  out.push('    *) echo none ;;', '  esac', '}');
  return out.join('\n');
}
