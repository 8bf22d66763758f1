// Whose fault is a failure the engine reported? The job's (it fails), the host's or engine's (it
// waits and is tried again; dopq never blames a job for them), or an engine that cannot be
// reached at all (nothing starts until it is back). And was an exited container killed by an
// engine restart rather than by its own doing? Pure: the daemon passes what it observed.
import type { ContainerExit } from './job/job.js';

export type FaultKind = 'unreachable' | 'host' | 'job';

export interface EngineErrorFacts {
  /** A Node error code (ENOENT, ECONNREFUSED, ...). */
  code?: string;
  /** The engine's HTTP status. */
  statusCode?: number;
  message: string;
}

const UNREACHABLE_CODES = new Set([
  'ENOENT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTCONN',
  'ECONNABORTED',
  'EAI_AGAIN',
  'ERR_SOCKET_CLOSED',
]);
// An engine going down refuses work with these before its socket closes.
const UNREACHABLE_TEXT =
  /socket hang up|connect (ENOENT|ECONNREFUSED)|cannot connect to the docker daemon|engine is not reachable|aborted|shutting down|failed to update store for object type \*libnetwork/i;
// The job asked for something that cannot work: a command, file or mount of its own.
const JOB_TEXT =
  /executable file not found|no such file or directory|exec format error|permission denied|not a directory|invalid (argument|mount|reference|volume|reference format)|no such image|manifest unknown|unable to find user/i;
// The engine or the host is short of something, or misconfigured: not the job's doing.
const HOST_TEXT =
  /could not select device driver|no space left on device|cannot allocate memory|too many open files|resource temporarily unavailable|device or resource busy|nvidia-container-cli|is restarting|is not running|context deadline exceeded|timeout/i;

export function classifyEngineError(error: EngineErrorFacts): FaultKind {
  if ((error.code && UNREACHABLE_CODES.has(error.code)) || UNREACHABLE_TEXT.test(error.message)) return 'unreachable';
  if (error.statusCode !== undefined && error.statusCode >= 502 && error.statusCode <= 504) return 'unreachable';
  if (JOB_TEXT.test(error.message)) return 'job';
  if (HOST_TEXT.test(error.message)) return 'host';
  // 4xx: the request (the job's spec) is wrong; an unexplained 5xx is the engine's trouble.
  return error.statusCode !== undefined && error.statusCode < 500 ? 'job' : 'host';
}

/** How long before an engine stops it may kill containers (shutdown-timeout 15 s, stop timeouts). */
export const ENGINE_SHUTDOWN_WINDOW_MS = 30_000;

export interface EngineHistory {
  /** When the engine now running started (its pid file's mtime), if known. */
  startedAt?: number;
  /** Times this daemon could not reach the engine: from, to (null: still down). */
  outages: readonly { from: number; to: number | null }[];
}

/**
 * Was this exit the work of an engine restart? `true`: yes (it is run again or fails with
 * engine-restart, never blamed on the job); `false`: the job's own exit; `unsure`: killed by a
 * signal nobody explains yet (the engine may be shutting down this very moment): wait a little.
 */
export function killedByEngineRestart(
  job: { started_at?: number; engine_started_at?: number; stopping?: string },
  exit: ContainerExit,
  engine: EngineHistory,
): boolean | 'unsure' {
  if (job.stopping) return false; // dopq stopped it
  const bySignal = !exit.oomKilled && (exit.exitCode === 137 || exit.exitCode === 143 || exit.exitCode === null || exit.exitCode === -1);
  if (!bySignal) return false;
  if (
    engine.startedAt !== undefined &&
    job.engine_started_at !== undefined &&
    engine.startedAt > job.engine_started_at + 1000 &&
    exit.finishedAt <= engine.startedAt + 1000
  )
    return true;
  const startedAt = job.started_at ?? 0;
  for (const outage of engine.outages) {
    const to = outage.to ?? Number.POSITIVE_INFINITY;
    if (
      outage.from + ENGINE_SHUTDOWN_WINDOW_MS >= startedAt &&
      exit.finishedAt >= outage.from - ENGINE_SHUTDOWN_WINDOW_MS &&
      exit.finishedAt <= to
    )
      return true;
  }
  return 'unsure';
}

/** What the daemon knows of the engine now: down since when, its outages, when to probe again. */
export interface EngineHealth extends EngineHistory {
  down: { since: number; error: string } | null;
  outages: { from: number; to: number | null }[];
  nextProbe: number;
  backoff: number;
}

export function newEngineHealth(): EngineHealth {
  return { down: null, outages: [], nextProbe: 0, backoff: 250 };
}
