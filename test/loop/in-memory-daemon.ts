// The real daemon (runDaemon, its loop and passes) in this process, on a temp spool, driving an
// engine in memory: no Docker, no test users, no images. Job files are written as push writes
// them, owned by whoever runs the test (root in CI) or by a uid the test gives them.
import { EventEmitter, once } from 'node:events';
import { chown, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionContext } from 'ava';
import { stringify } from 'yaml';
import { encodeEnvelope } from '../../src/core/job/envelope.js';
import type { JobRecord } from '../../src/core/job/job.js';
import type { StateFile } from '../../src/core/state.js';
import type { Logger } from '../../src/daemon/context.js';
import { runDaemon } from '../../src/daemon/run.js';
import { loadConfig } from '../../src/io/files/config-file.js';
import { initSpool, INTAKE_SUFFIX, spoolPaths, type SpoolPaths } from '../../src/io/spool/spool.js';
import { readState } from '../../src/io/spool/state-store.js';
import { MemoryEngine } from '../helpers/memory-engine.js';

export const IMAGE = 'dopq-busybox:latest';

export interface InMemoryDaemon {
  engine: MemoryEngine;
  spool: SpoolPaths;
  /** Push a job (as the test's user, or owned by `uid`); returns its number. */
  push(manifest: Record<string, unknown>, options?: { uid?: number; submittedAt?: number }): Promise<number>;
  state(): Promise<StateFile>;
  job(id: number): Promise<JobRecord | undefined>;
  /** Resolves with the probe's value once it has one; looked at again after each engine call or log line. */
  waitFor<T>(what: string, probe: () => Promise<T | undefined | false>): Promise<T>;
  waitForJob(id: number, states: string[]): Promise<JobRecord>;
  /** Move the daemon's clock forward (time limits, backoffs): no test waits for real time to pass. */
  advance(ms: number): void;
  /** What the daemon logged so far. */
  log: string[];
  /** The daemon's config file: rewrite it with `writeConfig`, then `hangup()`. */
  configFile: string;
  /** Write the config file: the test's base config with `config` over it. */
  writeConfig(config: Record<string, unknown>): Promise<void>;
  /** What SIGHUP does to a real daemon: read the config again before the next pass. */
  hangup(): void;
}

/** Longest any wait may take before the test fails with the daemon's log. */
const WAIT_LIMIT_MS = 60_000;

export async function startInMemoryDaemon(t: ExecutionContext, config: Record<string, unknown> = {}): Promise<InMemoryDaemon> {
  const dir = await mkdtemp(path.join(tmpdir(), 'dopq-loop-'));
  let offset = 0;
  const now = () => Date.now() + offset;
  const configFile = path.join(dir, 'dopq.yaml');
  const writeConfig = (overrides: Record<string, unknown>) =>
    writeFile(
      configFile,
      stringify({
        spool: './spool',
        gpus: [0, 1],
        // Passes follow events; the rescan timer only covers what no event announces (a clock moved forward).
        rescan_interval: '0.2s',
        reconcile_interval: '2s',
        docker: { socket: path.join(dir, 'docker.sock'), pidfile: path.join(dir, 'docker.pid') },
        ...overrides,
      }),
    );
  await writeConfig(config);
  const spool = spoolPaths(path.join(dir, 'spool'));
  await initSpool(spool);
  const engine = new MemoryEngine({ now, pidfile: path.join(dir, 'docker.pid'), images: [IMAGE] });
  await engine.boot();

  const lines: string[] = [];
  const logged = new EventEmitter();
  logged.setMaxListeners(0);
  const line = (level: string) => (message: string, jobId?: number) => {
    lines.push(`${level}${jobId === undefined ? '' : ` [job ${jobId}]`} ${message}`);
    logged.emit('line');
  };
  const log: Logger = { info: line('info'), error: line('error') };
  const stop = new AbortController();
  const hangups = new EventTarget();
  const running = runDaemon(await loadConfig(configFile), { once: false, log, engine, now, stop: stop.signal, hangups });
  running.catch((error: Error) => lines.push(`runDaemon threw: ${error.stack ?? error.message}`));
  t.teardown(async () => {
    stop.abort();
    await running.catch(() => undefined);
    if (!t.passed) t.log(lines.join('\n'));
    await rm(dir, { recursive: true, force: true });
  });

  let pushed = 0;
  const daemon: InMemoryDaemon = {
    engine,
    spool,
    log: lines,
    configFile,
    writeConfig,
    hangup: () => hangups.dispatchEvent(new Event('SIGHUP')),
    async push(manifest, options = {}) {
      pushed += 1;
      const id = pushed;
      const source = path.join(dir, `job-${id}.yaml`);
      const text = stringify({ image: IMAGE, command: 'true', ...manifest });
      // As push publishes: a whole file under its final name at once, owned by its writer.
      const temp = path.join(spool.intake, `.push-${id}`);
      await writeFile(temp, encodeEnvelope({ id, submitted_at: options.submittedAt ?? now(), manifest: text, source }), { mode: 0o600 });
      if (options.uid !== undefined) await chown(temp, options.uid, options.uid);
      await rename(temp, path.join(spool.intake, `${id}${INTAKE_SUFFIX}`));
      return id;
    },
    state: () => readState(spool.state),
    async job(id) {
      return (await daemon.state()).jobs.find((job) => job.id === id);
    },
    async waitFor(what, probe) {
      const deadline = Date.now() + WAIT_LIMIT_MS;
      for (;;) {
        const value = await probe();
        if (value !== undefined && value !== false) return value as never;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        // The state file is written after a pass's last call or line: the short poll catches that save.
        const ac = new AbortController();
        await Promise.race([
          once(logged, 'line', { signal: ac.signal }),
          engine.nextCall(ac.signal),
          sleep(100, undefined, { signal: ac.signal }),
        ]).catch(() => undefined);
        ac.abort();
      }
    },
    waitForJob(id, states) {
      return daemon.waitFor(`job ${id} to be ${states.join('/')}`, async () => {
        const job = await daemon.job(id);
        return job && states.includes(job.state) ? job : undefined;
      });
    },
    advance(ms) {
      offset += ms;
    },
  };
  return daemon;
}
