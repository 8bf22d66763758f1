// One error family for the whole CLI. Callers branch on `code`; only cli/program.ts prints.
// Exit codes follow sysexits(3), as lpd does.
export const ExitCode = {
  ok: 0,
  partial: 1,
  usage: 64,
  badInput: 65,
  noSuchJob: 66,
  noUser: 67,
  unavailable: 69,
  internal: 70,
  cantCreate: 73,
  tempFail: 75,
  noPermission: 77,
  config: 78,
} as const;

export interface Issue {
  /** Dotted field path, e.g. `env.TOKEN` or `mounts[1]`; empty for the whole document. */
  path: string;
  /** 1-based line in the source file, when known. */
  line?: number;
  message: string;
  /** A refusal on permission (another user's image), not a mistake: push exits 77 for it. */
  denied?: true;
}

export interface DopqErrorOptions {
  hint?: string;
  cause?: unknown;
}

export class DopqError extends Error {
  readonly code: string;
  readonly exitCode: number;
  readonly hint?: string;
  /** What the message is about: a file, a job id, a command. Printed as `dopq: <subject>: <reason>`. */
  readonly subject?: string;

  constructor(code: string, exitCode: number, message: string, subject?: string, options: DopqErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DopqError';
    this.code = code;
    this.exitCode = exitCode;
    this.subject = subject;
    this.hint = options.hint;
  }
}

export class UsageError extends DopqError {
  constructor(message: string, options?: DopqErrorOptions) {
    super('usage', ExitCode.usage, message, undefined, options);
  }
}

/** A manifest or config that failed validation: every problem found, each with its field and line. */
export class InvalidDocumentError extends DopqError {
  readonly issues: Issue[];
  constructor(kind: 'manifest' | 'config' | 'trace', file: string, issues: Issue[], options?: DopqErrorOptions) {
    super(`bad-${kind}`, kind === 'config' ? ExitCode.config : ExitCode.badInput, formatIssues(issues), file, options);
    this.issues = issues;
  }
}

export class NotFoundError extends DopqError {
  constructor(subject: string, message: string, options?: DopqErrorOptions) {
    super('not-found', ExitCode.noSuchJob, message, subject, options);
  }
}

export class PermissionError extends DopqError {
  constructor(subject: string, message: string, options?: DopqErrorOptions) {
    super('permission', ExitCode.noPermission, message, subject, options);
  }
}

export class UnavailableError extends DopqError {
  constructor(subject: string, message: string, options?: DopqErrorOptions) {
    super('unavailable', ExitCode.unavailable, message, subject, options);
  }
}

export class SpoolError extends DopqError {
  constructor(subject: string, message: string, options?: DopqErrorOptions) {
    super('spool', ExitCode.cantCreate, message, subject, options);
  }
}

/** A spool or config that users could write where they must not: the daemon will not trust it. */
export class UnsafeSpoolError extends DopqError {
  constructor(spoolRoot: string, problems: { path: string; problem: string }[]) {
    super(
      'unsafe-spool',
      ExitCode.config,
      `refusing to trust the spool or config:\n${problems.map((p) => `${p.path}: ${p.problem}`).join('\n')}`,
      spoolRoot,
      {
        hint: 'as root, `dopq init` gives the spool its owners and modes; folders above it and the config you fix yourself',
      },
    );
  }
}

export class LockBusyError extends DopqError {
  constructor(subject: string, message: string, options?: DopqErrorOptions) {
    super('lock-busy', ExitCode.tempFail, message, subject, options);
  }
}

/** `line 3: gpus: expected ...`, one issue a line, in source order. */
export function formatIssues(issues: Issue[]): string {
  return [...issues]
    .sort((a, b) => (a.line ?? 0) - (b.line ?? 0))
    .map((issue) => {
      const where = issue.line === undefined ? '' : `line ${issue.line}: `;
      const field = issue.path === '' ? '' : `${issue.path}: `;
      return `${where}${field}${issue.message}`;
    })
    .join('\n');
}
