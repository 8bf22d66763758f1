// A real terminal for tests of interactive commands: a tmux session on a private server,
// running a command as a real user; the test types keys and reads the screen.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionContext } from 'ava';
import type { UnixUser } from './users.js';

/** `text` as one sh word. */
export const shQuote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

export interface TmuxTerminal {
  /** Everything the terminal showed, scrollback included, wrapped lines joined. */
  screen(): string;
  /** tmux send-keys: text, or key names such as Enter, C-c, C-p. */
  keys(...keys: string[]): void;
  /** Type a line and press Enter. */
  line(text: string): void;
  /** Wait until the screen matches; fails with the screen after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** The command's exit code once it exited (the terminal prints it). */
  exitCode(timeoutMs?: number): Promise<number>;
}

/**
 * Run `argv` as `user` in a new tmux terminal of `columns` x `rows`. The terminal stays after the
 * command ends (its exit code printed as `terminal-exit=N`), until the test's teardown.
 */
export function tmuxAs(t: ExecutionContext, user: UnixUser, argv: string[], size = { columns: 120, rows: 40 }): TmuxTerminal {
  // A server of its own, on a socket of its own: tmux leaves the file behind, the teardown removes it.
  const server = path.join(tmpdir(), `dopq-tmux-${randomBytes(4).toString('hex')}`);
  const tmux = (...args: string[]) => execFileSync('tmux', ['-S', server, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  // Then `cat` holds the terminal open: it swallows keys and ends when the terminal goes at the
  // teardown (a `sleep` there outlived the tests by an hour: su gives it a session of its own).
  const script = `${argv.map(shQuote).join(' ')}; echo "terminal-exit=$?"; exec cat >/dev/null`;
  tmux(
    'new-session',
    '-d',
    '-s',
    'test',
    '-x',
    String(size.columns),
    '-y',
    String(size.rows),
    `su ${user.name} -s /bin/sh -c ${shQuote(script)}`,
  );
  t.teardown(() => {
    try {
      tmux('kill-server');
    } catch {
      // gone already
    }
    rmSync(server, { force: true });
  });
  const terminal: TmuxTerminal = {
    screen: () => tmux('capture-pane', '-p', '-J', '-S', '-', '-t', 'test'),
    keys: (...keys) => void tmux('send-keys', '-t', 'test', ...keys),
    line(text) {
      tmux('send-keys', '-t', 'test', '-l', text);
      tmux('send-keys', '-t', 'test', 'Enter');
    },
    async waitFor(pattern, timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      for (let pause = 50; ; pause = Math.min(500, pause * 1.5)) {
        const match = terminal.screen().match(pattern);
        if (match) return match;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} on the terminal:\n${terminal.screen()}`);
        await sleep(pause);
      }
    },
    async exitCode(timeoutMs) {
      return Number((await terminal.waitFor(/terminal-exit=(\d+)/, timeoutMs))[1]);
    },
  };
  return terminal;
}
