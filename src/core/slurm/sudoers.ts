// The sudoers rule that lets every user's batch script start `dopq node-run` as root, and nothing
// else. Pure. sudo's `*` matches spaces, so a wildcard rule (`--config * node-run *`) would let
// any user run any dopq command as root (`--config /etc/dopq/dopq.yaml push ... -- node-run x`
// pushes a job owned by root): the rule is a regular expression (sudo 1.9.10 or later) over the
// whole argument line, with the config file fixed and one job id the only free part.

/** A job id as node-run's argument: digits only, no leading zero, no space (so exactly one word). */
const JOB_ID_RE = '[1-9][0-9]{0,9}';

/** The helper's words split at sudo's `--`: what sudo runs (the command, then fixed arguments). */
export interface SudoHelper {
  /** The program sudo runs: an absolute path (sudoers names commands by path). */
  command: string;
  /** Its first arguments, fixed (e.g. the script a `node` runs). */
  args: string[];
}

/**
 * What sudo runs for `helper` (slurm.helper): the words after `sudo [options] --`. Undefined when
 * the helper is not sudo with `--` (no sudoers rule applies then).
 */
export function sudoHelper(helper: readonly string[]): SudoHelper | undefined {
  if (helper.length < 3 || !/(^|\/)sudo$/.test(helper[0]!)) return undefined;
  const end = helper.indexOf('--');
  if (end < 1 || end + 1 >= helper.length) return undefined;
  return { command: helper[end + 1]!, args: helper.slice(end + 2) };
}

/** `text` matched literally inside a POSIX extended regular expression in sudoers (`#` too). */
export function regexLiteral(text: string): string {
  return text.replace(/[\\^$.|?*+()[\]{}#]/g, (c) => `\\${c}`);
}

/**
 * The two sudoers lines: keep only SLURM_JOB_ID (node-run asks the controller for the rest:
 * name, owner, node, GPUs; anything else the caller sets is theirs to forge, SLURM_CONF most of
 * all), and allow exactly `COMMAND ARGS --config CONFIG node-run ID`.
 */
export function sudoersLines(helper: SudoHelper, configFile: string): string[] {
  if (!helper.command.startsWith('/')) throw new Error(`sudoers names commands by absolute path, not ${helper.command}`);
  for (const word of [helper.command, ...helper.args, configFile])
    if (/[\s,:=\\"]/.test(word)) throw new Error(`${JSON.stringify(word)} holds a character sudoers cannot take here`);
  const args = [...helper.args, '--config', configFile, 'node-run'].map(regexLiteral).join(' ');
  return [`Defaults!${helper.command} env_keep += "SLURM_JOB_ID"`, `ALL ALL=(root) NOPASSWD: ${helper.command} ^${args} ${JOB_ID_RE}$`];
}

/**
 * What `dopq slurm-setup` prints for sudoers: the rule as comments (the output is piped into sh),
 * or why there is none to print.
 */
export function sudoersText(helper: SudoHelper | undefined, configFile: string): string {
  const head = '# /etc/sudoers.d/dopq on every node (visudo -f): the batch script may start node-run as root, nothing else';
  if (!helper) return `${head}\n#   slurm.helper is not [sudo, ..., --, COMMAND]: let COMMAND take one job id and nothing else\n`;
  return [head, ...sudoersLines(helper, configFile).map((line) => `#   ${line}`), ''].join('\n');
}
