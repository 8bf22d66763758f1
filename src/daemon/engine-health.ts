// Whether the engine can be reached, since when not, and when the running engine started. An
// engine that is down is not a job failure: the daemon starts nothing, keeps taking pushes and
// requests, probes again with backoff (at most 5 s apart), and reconciles once it is back.
import { stat } from 'node:fs/promises';
import { classifyEngineError, type FaultKind } from '../core/engine-faults.js';
import { dockerMessage } from '../io/docker/docker.js';
import type { DaemonContext } from './context.js';

const MAX_BACKOFF_MS = 5000;
/** Outages remembered to explain containers killed meanwhile (a few hours' worth is plenty). */
const OUTAGES_KEPT = 50;

/** Classify an engine error; one that says the engine cannot be reached marks it down. */
export function noteEngineError(ctx: DaemonContext, error: unknown): FaultKind {
  const err = error as { code?: string; statusCode?: number };
  const message = dockerMessage(error);
  const kind = classifyEngineError({
    ...(err.code ? { code: err.code } : {}),
    ...(err.statusCode ? { statusCode: err.statusCode } : {}),
    message,
  });
  const health = ctx.health;
  if (kind === 'unreachable' && !health.down) {
    const now = ctx.now();
    health.down = { since: now, error: message };
    health.outages = [...health.outages, { from: now, to: null }].slice(-OUTAGES_KEPT);
    health.backoff = 250;
    health.nextProbe = now + health.backoff;
    ctx.log.error(`the Docker engine is unreachable (${message}); starting nothing until it is back`);
  }
  return kind;
}

/** The engine's start time, from its pid file's mtime (undefined when there is none). */
export async function refreshEngineStart(ctx: DaemonContext): Promise<number | undefined> {
  const started = await stat(ctx.config.docker.pidfile).then(
    (info) => info.mtimeMs,
    () => undefined,
  );
  if (started !== undefined) ctx.health.startedAt = started;
  return started;
}

/**
 * Is the engine up? When it was down, probe it (no more often than the backoff allows); once it
 * answers, close the outage and say so: the caller reconciles before anything else.
 */
export async function probeEngine(ctx: DaemonContext): Promise<'up' | 'down' | 'back'> {
  const health = ctx.health;
  if (!health.down) return 'up';
  const now = ctx.now();
  if (now < health.nextProbe) return 'down';
  try {
    await ctx.engine.ping();
  } catch (error) {
    health.down = { ...health.down, error: dockerMessage(error) };
    health.backoff = Math.min(MAX_BACKOFF_MS, health.backoff * 2);
    health.nextProbe = now + health.backoff;
    return 'down';
  }
  const last = health.outages.at(-1);
  if (last && last.to === null) last.to = now;
  ctx.log.info(`the Docker engine is back after ${Math.round((now - health.down.since) / 1000)}s; reconciling`);
  health.down = null;
  await refreshEngineStart(ctx);
  return 'back';
}
