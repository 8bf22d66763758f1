// `dopq run` kept alive as systemd's Restart=always would: whenever it exits, by our SIGKILL or
// on its own, it is started again after a short delay. Every life's output is kept.
import { setTimeout as sleep } from 'node:timers/promises';
import { startDaemon, type DaemonProcess, type Dopq } from './dopq.js';

export interface DaemonLife {
  n: number;
  /** The last lines it printed (filled in when it ends). */
  lastWords?: string;
  /** When it logged `dopq run: ...` (it holds the spool and runs), if it got that far. */
  readyAt?: number;
  startedAt: number;
  endedAt?: number;
  code?: number | null;
  signal?: NodeJS.Signals | null;
  /** Ended by the harness (a chaos SIGKILL or the final stop), not on its own. */
  ours: boolean;
}

const RESTART_DELAY_MS = 500;

export class DaemonSupervisor {
  readonly lives: DaemonLife[] = [];
  private current: { process: DaemonProcess; life: DaemonLife } | undefined;
  private stopping = false;
  private outputs: string[] = [];
  private restarting: Promise<void> | undefined;
  private kills: Promise<unknown> = Promise.resolve();

  constructor(private readonly app: Dopq) {}

  start(): void {
    if (this.current) throw new Error(`daemon life ${this.current.life.n} is still running`);
    const life: DaemonLife = { n: this.lives.length + 1, startedAt: Date.now(), ours: false };
    const process = startDaemon(this.app);
    this.lives.push(life);
    this.current = { process, life };
    process.child.stderr!.on('data', () => {
      if (life.readyAt !== undefined) return;
      const line = /^(\S+) info dopq run: /m.exec(process.output());
      if (line) life.readyAt = Date.parse(line[1]!);
    });
    void process.exited.then((code) => {
      life.endedAt = Date.now();
      life.code = code;
      life.signal = process.child.signalCode;
      this.outputs[life.n - 1] = process.output();
      life.lastWords = process.output().trimEnd().split('\n').slice(-3).join('\n');
      if (this.current?.life === life) this.current = undefined;
      // Restart=always: an exit we did not cause is restarted too (and counted).
      if (!life.ours && !this.stopping) this.restartAfter(RESTART_DELAY_MS);
    });
  }

  /** SIGKILL the running daemon (waiting for one if it is between lives); restart it after `delayMs`. */
  kill(delayMs: number): Promise<boolean> {
    // One kill at a time: two at once would both restart it, and two daemons would race.
    const turn = this.kills.then(() => this.killNow(delayMs));
    this.kills = turn.catch(() => false);
    return turn;
  }

  private async killNow(delayMs: number): Promise<boolean> {
    await this.restarting;
    const current = this.current;
    if (!current || this.stopping) return false;
    current.life.ours = true;
    current.process.child.kill('SIGKILL');
    await current.process.exited;
    if (!this.stopping) this.restartAfter(delayMs);
    await this.restarting;
    return true;
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`; no more restarts. */
  async stop(graceMs = 20_000): Promise<void> {
    this.stopping = true;
    await this.restarting;
    const current = this.current;
    if (!current) return;
    current.life.ours = true;
    const timer = setTimeout(() => current.process.child.kill('SIGKILL'), graceMs);
    current.process.child.kill('SIGTERM');
    await current.process.exited;
    clearTimeout(timer);
  }

  /** What one life printed. */
  lifeOutput(life: DaemonLife): string {
    return this.outputs[life.n - 1] ?? (this.current?.life === life ? this.current.process.output() : '');
  }

  /** All lives' output, each headed by how it started and ended. */
  output(): string {
    return this.lives
      .map((life) => {
        const text = this.lifeOutput(life);
        const end =
          life.endedAt === undefined
            ? 'running'
            : `ended ${new Date(life.endedAt).toISOString()} code ${life.code ?? '-'} signal ${life.signal ?? '-'}${life.ours ? ' (by the harness)' : ''}`;
        return `--- daemon life ${life.n}: started ${new Date(life.startedAt).toISOString()}, ${end}\n${text}`;
      })
      .join('');
  }

  private restartAfter(ms: number): void {
    const restarting: Promise<void> = (async () => {
      await sleep(ms);
      if (!this.stopping && !this.current) this.start();
    })().finally(() => {
      if (this.restarting === restarting) this.restarting = undefined;
    });
    this.restarting = restarting;
  }
}
