// The flags of `dopq push` as commander reads them: each checked as it is parsed (a flag given
// twice, a malformed --env) and the operands split at `--`. Light on purpose: program.ts loads it
// for every command; the manifest itself is built and validated in push-input.ts.
import { InvalidArgumentError, Option } from 'commander';
import { DopqError, ExitCode } from '../core/errors.js';

/** The flags of `dopq push` that give manifest fields, as commander hands them over. */
export interface PushFlags {
  image?: string;
  gpus?: string;
  cpus?: string;
  memory?: string;
  shm?: string;
  time?: string;
  name?: string;
  env?: Record<string, string>;
  mount?: string[];
  array?: string;
  after?: string;
  afterAny?: string;
}

/** Flags given once: a second one is a usage error naming it, never a silent override. */
export function once<T>(flag: string, parse: (text: string) => T = (text) => text as T) {
  return (text: string, previous: T | undefined): T => {
    if (previous !== undefined) throw new InvalidArgumentError(`given twice; give ${flag} once`);
    return parse(text);
  };
}

/** `--env NAME=value`, repeatable; the name is checked with the manifest's env (dopq's own names refused there). */
export function collectEnv(text: string, previous: Record<string, string> | undefined): Record<string, string> {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`expected NAME=value, got ${JSON.stringify(text)}`);
  const name = text.slice(0, eq);
  if (previous && Object.hasOwn(previous, name)) throw new InvalidArgumentError(`${name} given twice`);
  return { ...previous, [name]: text.slice(eq + 1) };
}

export function collectMount(text: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), text];
}

/** The flags of `dopq push` beyond --json, in the order --help lists them. */
export function pushFlagOptions(): Option[] {
  const one = (flags: string, description: string, parse?: (text: string) => string) =>
    new Option(flags, description).argParser(once(flags.split(' ')[0]!, parse));
  return [
    one('--image <image>', 'the image to run (manifest field image)'),
    one('--gpus <n>', 'GPUs (gpus)'),
    one('--cpus <n>', 'CPUs (cpus)'),
    one('--memory <size>', 'memory limit, e.g. 32g (memory)'),
    one('--shm <size>', 'shared memory, e.g. 8g (shm)'),
    one('--time <duration>', 'time limit, e.g. 90m or 48h (time_limit)'),
    one('--name <name>', 'job name (name)'),
    new Option('--env <name=value>', 'an environment variable, repeatable (env)').argParser(collectEnv),
    new Option('--mount <src:dst[:ro]>', "a bind mount, repeatable; added to the manifest's (mounts)").argParser(collectMount),
    one('--array <indices>', 'one job per index: 0-19, 0-19:2, 1,5,9, with %N to run at most N at once (array)'),
    one('--after <ids>', 'start after these jobs ended done; cancelled if one does not (after)'),
    one('--after-any <ids>', 'start after these jobs ended, whatever the outcome (after_any)'),
  ];
}

/**
 * The operands of `dopq push`, split at `--`: at most one FILE before it, the command after it
 * (undefined without `--`). Commander hands over every operand in one list; `raw` is the
 * command line, where the words after `--` are the last ones.
 */
export function splitPushOperands(operands: readonly string[], raw: readonly string[]): { file?: string; command?: string[] } {
  const dash = raw.indexOf('--');
  const after = dash < 0 ? 0 : raw.length - dash - 1;
  const before = operands.slice(0, operands.length - after);
  if (before.length > 1)
    throw new DopqError(
      'usage',
      ExitCode.usage,
      `one manifest FILE at most, got ${before.length} (${before.join(' ')}); a command goes after --`,
      'push',
      {
        hint: 'usage: dopq push [FILE | -] [--image IMAGE ...] [-- COMMAND [ARGS...]]',
      },
    );
  return {
    ...(before[0] !== undefined ? { file: before[0] } : {}),
    ...(dash < 0 ? {} : { command: operands.slice(operands.length - after) }),
  };
}
