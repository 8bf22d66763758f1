// The private Docker engine (scripts/chaos-engine.sh) and a record of its container events that
// survives its restarts: `docker events` is reconnected with --since after each one.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { EngineEvent } from './analyze.js';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));

/** scripts/chaos-engine.sh of this checkout (from dist/bench/chaos or bench/chaos). */
export function engineScript(): string {
  const candidates = [
    process.env['DOPQ_CHAOS_ENGINE_SCRIPT'],
    path.resolve(here, '../../../scripts/chaos-engine.sh'),
    path.resolve(here, '../../scripts/chaos-engine.sh'),
  ];
  const found = candidates.find((file): file is string => file !== undefined && existsSync(file));
  if (!found)
    throw new Error(`scripts/chaos-engine.sh not found (looked at ${candidates.filter(Boolean).join(', ')}); set DOPQ_CHAOS_ENGINE_SCRIPT`);
  return found;
}

export interface PrivateEngine {
  dir: string;
  socket: string;
  pidfile: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function privateEngine(dir: string, timeoutMs = 90_000): PrivateEngine {
  const script = engineScript();
  const call = async (action: string) => {
    await run('bash', [script, action, dir], { timeout: timeoutMs, killSignal: 'SIGKILL' }).catch((error: Error & { stderr?: string }) => {
      throw new Error(`chaos-engine.sh ${action} failed: ${error.stderr?.trim() || error.message}`);
    });
  };
  return {
    dir,
    socket: path.join(dir, 'docker.sock'),
    pidfile: path.join(dir, 'docker.pid'),
    start: () => call('start'),
    stop: () => call('stop'),
  };
}

interface RawEvent {
  id?: string;
  Action?: string;
  status?: string;
  Type?: string;
  timeNano?: number;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/** One line of `docker events --format '{{json .}}'`, if it is a container event. */
export function parseEventLine(line: string): EngineEvent | undefined {
  let raw: RawEvent;
  try {
    raw = JSON.parse(line) as RawEvent;
  } catch {
    return undefined;
  }
  const container = raw.Actor?.ID ?? raw.id;
  const action = raw.Action ?? raw.status;
  if (raw.Type !== 'container' || !container || !action || raw.timeNano === undefined) return undefined;
  const exit = raw.Actor?.Attributes?.['exitCode'];
  return {
    container,
    action,
    name: raw.Actor?.Attributes?.['name'] ?? '',
    timeMs: raw.timeNano / 1e6,
    ...(exit !== undefined ? { exitCode: Number(exit) } : {}),
  };
}

export interface EventRecorder {
  events: EngineEvent[];
  /** Stop following; resolves once the last `docker events` process has exited. */
  stop(): Promise<void>;
}

/** Follow the engine's container events from `sinceMs` on, reconnecting while it restarts. */
export function recordEvents(socket: string, sinceMs: number): EventRecorder {
  const events: EngineEvent[] = [];
  const seen = new Set<string>();
  let stopped = false;
  let child: ChildProcess | undefined;
  let since = sinceMs;
  const follow = async () => {
    while (!stopped) {
      const args = [
        '-H',
        `unix://${socket}`,
        'events',
        '--format',
        '{{json .}}',
        '--filter',
        'type=container',
        '--since',
        (since / 1000).toFixed(3),
      ];
      child = spawn('docker', args, { stdio: ['ignore', 'pipe', 'ignore'] });
      let buffer = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        let i;
        while ((i = buffer.indexOf('\n')) >= 0) {
          const event = parseEventLine(buffer.slice(0, i));
          buffer = buffer.slice(i + 1);
          const key = event && `${event.container}:${event.action}:${event.timeMs}`;
          if (!event || seen.has(key!)) continue;
          seen.add(key!);
          events.push(event);
          since = Math.max(since, Math.floor(event.timeMs));
        }
      });
      await new Promise<void>((resolve) => child!.on('close', () => resolve()));
      if (!stopped) await sleep(250); // the engine is down: try again shortly
    }
  };
  const following = follow();
  return {
    events,
    async stop() {
      stopped = true;
      child?.kill('SIGTERM');
      await following;
    },
  };
}
