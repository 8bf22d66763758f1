// How the CLI reports: one error form for every command (`dopq: subject: message`, then a
// hint), argument errors included; with `--json`, also the error as one JSON object on stdout;
// and the per-id loop that `rm`, `hold`, `release` and `top` share. Apart from program.ts, so
// commands never import the program that loads them.
import type { Command, CommanderError } from 'commander';
import { DopqError, ExitCode, InvalidDocumentError, type Issue } from '../core/errors.js';
import type { Output } from './context.js';

export interface ReportOptions {
  /** Print the stack trace too (`--debug`). */
  debug?: boolean;
  /** The command was asked for JSON: the error is also a JSON object on stdout. */
  json?: boolean;
}

/** What `--json` prints for an error, so scripts parse failures as they parse results. */
export interface JsonError {
  error: {
    code: string;
    subject: string | null;
    message: string;
    hint: string | null;
    exit_code: number;
    /** A manifest's, config's or trace's problems, one per field, in source order. */
    issues?: Issue[];
  };
}

export function reportError(error: unknown, io: Output, { debug = false, json = false }: ReportOptions = {}): number {
  const known =
    error instanceof DopqError
      ? error
      : (systemError(error) ??
        new DopqError('internal', ExitCode.internal, `internal error: ${(error as Error)?.message ?? String(error)}`, undefined, {
          ...(debug ? {} : { hint: 'run again with --debug for the stack trace' }),
        }));
  // With --json, stdout holds one JSON document whatever happened; stderr stays for people.
  if (json) io.out(`${JSON.stringify(jsonError(known))}\n`);
  const lines = known.message.split('\n');
  const head = known.subject ? `dopq: ${known.subject}: ` : 'dopq: ';
  io.err(lines.length > 1 ? `${head}\n${lines.map((l) => `  ${l}`).join('\n')}\n` : `${head}${lines[0]}\n`);
  if (known.hint) io.err(`hint: ${known.hint}\n`);
  const stack = error instanceof Error ? error.stack : undefined;
  if (debug && stack) io.err(`${stack}\n`);
  return known.exitCode;
}

// A file system refusal no command turned into its own error is still the caller's path, not a
// bug of dopq's: said with its path and its sysexits code rather than as an internal error.
const SYSTEM_ERRORS: Record<string, { code: string; exitCode: number; message: string; hint: string }> = {
  EACCES: {
    code: 'permission',
    exitCode: ExitCode.noPermission,
    message: 'permission denied',
    hint: 'check the mode of the path and of its folders',
  },
  EPERM: {
    code: 'permission',
    exitCode: ExitCode.noPermission,
    message: 'permission denied',
    hint: 'check the mode of the path and of its folders',
  },
  ENOENT: { code: 'no-input', exitCode: ExitCode.noSuchJob, message: 'no such file or folder', hint: 'check the path' },
  ENOSPC: { code: 'cant-create', exitCode: ExitCode.cantCreate, message: 'no space left on the disk', hint: 'free space, then try again' },
};

function systemError(error: unknown): DopqError | undefined {
  const { code, path } = (error ?? {}) as NodeJS.ErrnoException;
  const known = code ? SYSTEM_ERRORS[code] : undefined;
  if (!known || typeof path !== 'string') return undefined;
  return new DopqError(known.code, known.exitCode, known.message, path, { hint: known.hint });
}

export function jsonError(error: DopqError): JsonError {
  return {
    error: {
      code: error.code,
      subject: error.subject ?? null,
      message: error.message,
      hint: error.hint ?? null,
      exit_code: error.exitCode,
      ...(error instanceof InvalidDocumentError ? { issues: [...error.issues].sort((a, b) => (a.line ?? 0) - (b.line ?? 0)) } : {}),
    },
  };
}

const OPTION_VALUE = /^option '([^']*)' argument '([^']*)' is invalid\. (.*)$/s;
const ARGUMENT_VALUE = /^command-argument value '([^']*)' is invalid for argument '([^']*)'\. (.*)$/s;
const SUGGESTION = /\n\(Did you mean ([^)]*)\?\)$/;

/**
 * Commander's own refusal (unknown option or command, missing or bad argument) in dopq's form:
 * the subject is the command it is about (`push`, `usage reset`; none for dopq itself), the
 * message commander's without its `error: `, and the hint its "did you mean", else the usage.
 */
export function usageError(error: CommanderError, command: Command): DopqError {
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  const full = ['dopq', ...names].join(' ');
  let message = error.message.replace(/^error: /, '');
  const suggestion = SUGGESTION.exec(message)?.[1];
  message = message.replace(SUGGESTION, '');
  const option = OPTION_VALUE.exec(message);
  const argument = ARGUMENT_VALUE.exec(message);
  if (option) message = valueReason(option[1]!.match(/--?[\w-]+/g)?.at(-1) ?? option[1]!, option[2]!, option[3]!);
  else if (argument) message = valueReason(`<${argument[2]!}>`, argument[1]!, argument[3]!);
  const hint = suggestion ? `did you mean ${suggestion}?` : `usage: ${full} ${command.usage()} (see ${full} --help)`;
  return new DopqError('usage', ExitCode.usage, message, names.length > 0 ? names.join(' ') : undefined, { hint });
}

// `--wait: not a duration: "abc"`; the value is added where the reason does not name it.
function valueReason(what: string, value: string, reason: string): string {
  const text = reason.replace(/^Allowed choices are (.*)\.$/, 'expected one of $1');
  return text.includes(value) ? `${what}: ${text}` : `${what}: ${text}, got ${JSON.stringify(value)}`;
}

/**
 * Run `action` for each id; a failing id is reported and the rest go on. The exit code: 0 when
 * all succeeded, the failure's own code when all failed, else 2 (partial).
 */
export async function forEachId(ids: readonly number[], io: Output, action: (id: number) => Promise<void> | void): Promise<number> {
  const failures: number[] = [];
  for (const id of ids) {
    try {
      await action(id);
    } catch (error) {
      failures.push(reportError(error, io));
    }
  }
  if (failures.length === 0) return ExitCode.ok;
  return failures.length === ids.length ? failures[0]! : ExitCode.partial;
}
