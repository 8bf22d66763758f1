// `dopq doctor`: look at everything a working dopq needs (config, spool, engine, GPUs, host,
// disk, users, daemon) and print one verdict a check. Observing is here; judging is in
// core/doctor/checks.ts. Nothing is changed, and a failing check stops none of the others.
import { stat } from 'node:fs/promises';
import type { Config } from '../../core/config/config.js';
import {
  configCheck,
  daemonCheck,
  diskCheck,
  doctorExitCode,
  engineCheck,
  gpusCheck,
  hostCheck,
  nvidiaRuntimeCheck,
  principalsCheck,
  principalsOf,
  renderChecks,
  spoolCheck,
  type Check,
  type Probe,
} from '../../core/doctor/checks.js';
import { DopqError } from '../../core/errors.js';
import { parseSinfoPartitions, parseSlurmSettings, slurmChecks, type SlurmSeen } from '../../core/doctor/slurm-checks.js';
import { slurmCommand } from '../../io/slurm/slurm-run.js';
import { engineHostFigures, readEngineInfo } from '../../io/docker/engine-info.js';
import { findConfig, loadConfig } from '../../io/files/config-file.js';
import { freeBytes } from '../../io/files/disk.js';
import { localHostFigures } from '../../io/host/host-resources.js';
import { knownNames } from '../../io/host/name-lookup.js';
import { queryGpus } from '../../io/host/nvidia-smi.js';
import { daemonAlive, readDaemonPid } from '../../io/spool/daemon-lock.js';
import { readDaemonStatus } from '../../io/spool/daemon-status.js';
import { spoolPaths, spoolProblems } from '../../io/spool/spool.js';
import type { GlobalOptions, Output } from '../context.js';

/** nvidia-smi without persistence mode can take seconds; a hung one must not hang the doctor. */
const SMI_TIMEOUT_MS = 15_000;

export async function doctorCommand(
  global: GlobalOptions,
  io: Output,
  env: NodeJS.ProcessEnv,
  options: { json?: boolean },
): Promise<number> {
  const found = findConfig(global.config, env);
  const loaded = await probe(() => loadConfig(found.file));
  const checks = [configCheck(found, loaded), ...(loaded.ok ? await configuredChecks(loaded.value) : [])];
  io.out(options.json ? `${JSON.stringify(checks, null, 2)}\n` : renderChecks(checks));
  return doctorExitCode(checks);
}

/** The checks that need a config, observed side by side. */
async function configuredChecks(config: Config): Promise<Check[]> {
  if (config.backend === 'slurm') return slurmBackendChecks(config);
  const spool = spoolPaths(config.spool);
  const wanted = principalsOf(config);
  const [spoolSeen, engine, gpus, names, daemon] = await Promise.all([
    probe(async () => {
      const exists = await stat(spool.root).then(
        () => true,
        (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? false : Promise.reject(error)),
      );
      return { root: spool.root, exists, problems: exists ? await spoolProblems(spool, config.file) : [] };
    }),
    probe(() => readEngineInfo(config.docker.socket)),
    probe(() => queryGpus(config.nvidia_smi, SMI_TIMEOUT_MS)),
    probe(() => knownNames(wanted.users, wanted.groups)),
    observeDaemon(spool.daemonPid, spool.daemonStatus),
  ]);
  const host = (engine.ok && engineHostFigures(engine.value)) || localHostFigures();
  const [spoolFree, dockerFree] = await Promise.all([
    probe(() => freeBytes(spool.root)),
    engine.ok
      ? probe(() => freeBytes(engine.value.rootDir))
      : Promise.resolve<Probe<number>>({ ok: false, error: 'the engine is unreachable' }),
  ]);
  const minFree = config.builds.min_free;
  return [
    spoolCheck(spoolSeen),
    engineCheck(config.docker.socket, engine),
    nvidiaRuntimeCheck(config.gpu_assignment, engine),
    gpusCheck(config.gpus, config.nvidia_smi, gpus),
    hostCheck(config, host),
    diskCheck('disk-spool', spool.root, spoolFree, minFree, 'fail', 'pushes of build jobs are refused'),
    diskCheck(
      'disk-docker',
      engine.ok ? engine.value.rootDir : "Docker's root",
      dockerFree,
      minFree,
      'warn',
      'builds and images may fill it',
    ),
    principalsCheck(wanted, names),
    daemonCheck(daemon, Date.now(), config.reconcile_interval),
  ];
}

/** With backend: slurm the jobs run on Slurm's nodes: no engine, GPUs or host figures here, Slurm's checks instead. */
async function slurmBackendChecks(config: Config): Promise<Check[]> {
  const spool = spoolPaths(config.spool);
  const wanted = principalsOf(config);
  const [spoolSeen, slurm, names, daemon, spoolFree] = await Promise.all([
    probe(async () => {
      const exists = await stat(spool.root).then(
        () => true,
        (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? false : Promise.reject(error)),
      );
      return { root: spool.root, exists, problems: exists ? await spoolProblems(spool, config.file) : [] };
    }),
    observeSlurm(config),
    probe(() => knownNames(wanted.users, wanted.groups)),
    observeDaemon(spool.daemonPid, spool.daemonStatus),
    probe(() => freeBytes(spool.root)),
  ]);
  return [
    spoolCheck(spoolSeen),
    ...slurmChecks(config, slurm),
    diskCheck('disk-spool', spool.root, spoolFree, config.builds.min_free, 'fail', 'pushes of build jobs are refused'),
    principalsCheck(wanted, names),
    daemonCheck(daemon, Date.now(), config.reconcile_interval),
  ];
}

async function observeSlurm(config: Config): Promise<SlurmSeen> {
  const [ping, settings, partitions, clusters] = await Promise.all([
    probe(() => slurmCommand(config.slurm, 'scontrol', ['ping'])),
    probe(async () => parseSlurmSettings(await slurmCommand(config.slurm, 'scontrol', ['show', 'config']))),
    probe(async () => parseSinfoPartitions(await slurmCommand(config.slurm, 'sinfo', ['-h', '-o', '%P|%G']))),
    probe(async () =>
      (await slurmCommand(config.slurm, 'sacctmgr', ['-n', '-P', 'show', 'cluster', 'format=cluster'])).split('\n').filter(Boolean),
    ),
  ]);
  return { ping, settings, partitions, clusters };
}

async function observeDaemon(pidFile: string, statusFile: string) {
  const [entry, alive, status] = await Promise.all([readDaemonPid(pidFile), daemonAlive(pidFile), readDaemonStatus(statusFile)]);
  return {
    ...(alive && entry ? { runningPid: entry.pid } : {}),
    ...(status ? { lastPassAt: status.at } : {}),
    // A stopped daemon's last word on saving is history, not a fault now.
    ...(alive && status?.save_error ? { saveError: status.save_error } : {}),
  };
}

/** What an observation gave: its value, or its error as a message (and a DopqError's hint). */
async function probe<T>(observe: () => Promise<T>): Promise<Probe<T>> {
  try {
    return { ok: true, value: await observe() };
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n').join('; ') : String(error);
    return { ok: false, error: message, ...(error instanceof DopqError && error.hint ? { hint: error.hint } : {}) };
  }
}
