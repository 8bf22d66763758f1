// A private spool and config per test, so test files run in parallel against one engine.
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import type { ExecutionContext } from 'ava';
import { stringify } from 'yaml';
import type { QueueView, JobView } from '../../src/core/view/queue-view.js';
import { runCli, startDaemonProcess, type CliOptions, type CliResult, type DaemonProcess } from './cli.js';
import type { UnixUser } from './users.js';
import { hardeningViolations } from './hardening.js';
import { realpathSync } from 'node:fs';
import { instanceId } from '../../src/daemon/context.js';
import { initSpool, spoolPaths } from '../../src/io/spool/spool.js';

export const IMAGE = process.env['DOPQ_BUSYBOX_IMAGE'] ?? 'dopq-busybox:latest';
export const docker = new Docker({ socketPath: '/var/run/docker.sock' });

export interface TestSpool {
  dir: string;
  configFile: string;
  spoolDir: string;
  /** A folder jobs may mount (world-writable), inside the allowed roots. */
  shared: string;
  cli(args: string[], options?: CliOptions): Promise<CliResult>;
  push(manifest: Record<string, unknown>, user?: UnixUser): Promise<number>;
  q(user?: UnixUser): Promise<QueueView>;
  job(id: number): Promise<JobView | undefined>;
  waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs?: number): Promise<T>;
  waitForJob(id: number, states: string[], timeoutMs?: number): Promise<JobView>;
  startDaemon(extraArgs?: string[]): DaemonProcess;
  /**
   * A gate a job waits at until the test opens it, so tests order events without guessing
   * durations. `mounts` must go into the job's manifest.
   */
  gate(name: string): { wait: string; mounts: string[]; open(): Promise<void> };
  /** Check the hardening of the spool's containers now (teardown checks the rest). */
  inspectContainers(): Promise<void>;
  /** Docker label filters that select this spool's containers (plus `more`). */
  labels(...more: string[]): string[];
}

export interface SpoolOptions {
  /** The spool on a file system of its own, a tmpfs of this size (`64m`): a disk that fills up. */
  tmpfs?: string;
}

/** `config` overrides the test defaults; a function gets the test's folder (for paths inside it). */
export async function makeSpool(
  t: ExecutionContext,
  config: Record<string, unknown> | ((dir: string) => Record<string, unknown>) = {},
  options: SpoolOptions = {},
): Promise<TestSpool> {
  const dir = await mkdtemp(path.join(tmpdir(), 'dopq-test-'));
  await chmod(dir, 0o755); // test users must reach the spool and their manifests
  const shared = path.join(dir, 'shared');
  await mkdir(shared);
  await chmod(shared, 0o1777);
  const configFile = path.join(dir, 'dopq.yaml');
  const overrides = typeof config === 'function' ? config(dir) : config;
  const full = {
    spool: './spool',
    gpus: [0, 1, 2, 3],
    gpu_assignment: 'env',
    admins: [],
    rescan_interval: '1s',
    reconcile_interval: '2s',
    stop_grace: '1s',
    defaults: { gpus: 1, memory: '128m', cpus: 0.5, shm: '16m', time_limit: '10m' },
    mounts: { allowed_roots: [dir] },
    // Keep finished containers, so that teardown inspects every container the test started.
    keep_containers: '1h',
    ...overrides,
    // The disk guard is tested on its own; other tests must not depend on this machine's free space.
    builds: { min_free: '1m', ...(overrides['builds'] as Record<string, unknown> | undefined) },
  };
  await writeFile(configFile, stringify(full));
  if (options.tmpfs) {
    await mkdir(path.join(dir, 'spool'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${options.tmpfs},mode=0755`, 'dopq-test', path.join(dir, 'spool')]);
  }
  // What an admin's `dopq init` does: lay out the spool with its modes.
  await initSpool(spoolPaths(path.join(dir, 'spool')));
  const daemons: DaemonProcess[] = [];
  // Every container of this spool is inspected once, at teardown or when a test asks (before
  // the daemon removes one, e.g. after history clear); teardown fails on any violation.
  const violations: string[] = [];
  const inspected = new Set<string>();
  const inspectAll = async (): Promise<string[]> => {
    const instance = instanceId(realSpool(path.join(dir, 'spool')));
    const containers = await docker.listContainers({ all: true, filters: { label: [`dopq.instance=${instance}`] } });
    const allowedRoots = ((full.mounts as { allowed_roots?: string[] }).allowed_roots ?? []).map(realSpool);
    const networks = (full as { network?: { allowed?: string[] } }).network?.allowed ?? ['none'];
    for (const c of containers) {
      if (inspected.has(c.Id)) continue;
      const info = await docker
        .getContainer(c.Id)
        .inspect()
        .catch(() => undefined);
      if (!info) continue;
      inspected.add(c.Id);
      for (const problem of hardeningViolations(info, { allowedRoots, networks }))
        violations.push(`${info.Name} (job ${c.Labels['dopq.job']}): ${problem}`);
    }
    return containers.map((c) => c.Id);
  };
  let counter = 0;

  const spool: TestSpool = {
    dir,
    configFile,
    spoolDir: path.join(dir, 'spool'),
    shared,
    cli: (args, options) => runCli(['--config', configFile, ...args], options),
    async push(manifest, user) {
      counter += 1;
      const file = path.join(dir, `m-${counter}-${user?.name ?? 'root'}.yaml`);
      await writeFile(file, stringify({ image: IMAGE, ...manifest }), { mode: 0o644 });
      const result = await spool.cli(['push', '--json', file], user ? { user } : {});
      if (result.code !== 0) throw new Error(`push failed (${result.code}): ${result.stderr}`);
      return (JSON.parse(result.stdout) as { id: number }).id;
    },
    async q(user) {
      const result = await spool.cli(['q', '--json', '--all'], user ? { user } : {});
      if (result.code !== 0) throw new Error(`q failed (${result.code}): ${result.stderr}`);
      return JSON.parse(result.stdout) as QueueView;
    },
    async job(id) {
      return (await spool.q()).jobs.find((job) => job.id === id);
    },
    async waitFor(what, probe, timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      // Quick at first, then backing off to a second: most probes run a CLI process, and dozens
      // of tests polling every 100 ms made the machine the bottleneck (load 20 on 2 cores).
      for (let pause = 100; ; pause = Math.min(1000, pause * 1.5)) {
        const value = await probe();
        if (value !== undefined && value !== false) return value as never;
        if (Date.now() > deadline) {
          const logs = daemons.map((d) => d.output()).join('\n---\n');
          throw new Error(`timed out waiting for ${what}\ndaemon output:\n${logs}`);
        }
        await sleep(pause);
      }
    },
    waitForJob(id, states, timeoutMs) {
      return spool.waitFor(
        `job ${id} to be ${states.join('/')}`,
        async () => {
          const job = await spool.job(id);
          return job && states.includes(job.state) ? job : undefined;
        },
        timeoutMs,
      );
    },
    gate(name) {
      const file = path.join(shared, `gate-${name}`);
      return {
        wait: `while [ ! -e ${file} ]; do sleep 0.05; done`,
        mounts: [`${shared}:${shared}`],
        open: () => writeFile(file, ''),
      };
    },
    labels(...more) {
      return [`dopq.instance=${instanceId(realSpool(path.join(dir, 'spool')))}`, ...more];
    },
    async inspectContainers() {
      await inspectAll();
    },
    startDaemon(extraArgs = []) {
      const daemon = startDaemonProcess(configFile, extraArgs);
      daemons.push(daemon);
      return daemon;
    },
  };

  t.teardown(async () => {
    await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
    const containers = await inspectAll();
    await Promise.all(
      containers.map((id) =>
        docker
          .getContainer(id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
    );
    const instance = instanceId(realSpool(path.join(dir, 'spool')));
    const images = await docker.listImages({ filters: { reference: [`dopq-${instance}/*`] } });
    // noprune: parents may be another test's build cache at this moment.
    await Promise.all(
      images.map((image) =>
        docker
          .getImage(image.Id)
          .remove({ force: true, noprune: true })
          .catch(() => undefined),
      ),
    );
    if (!t.passed) t.log(daemons.map((d) => d.output()).join('\n---\n'));
    if (options.tmpfs) execFileSync('umount', ['-l', path.join(dir, 'spool')]);
    await rm(dir, { recursive: true, force: true });
    if (violations.length > 0) throw new Error(`containers without the hardening:\n${violations.join('\n')}`);
  });
  return spool;
}

function realSpool(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return dir;
  }
}

/** A shell command for a job (busybox sh). */
export const sh = (script: string) => script;
