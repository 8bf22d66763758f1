// A pids cgroup per build. RLIMIT_NPROC never binds root, so a root RUN step could fork until
// the host ran out of pids; a cgroup's pids.max binds every process in it, root included. The
// legacy builder passes `cgroupparent` to each intermediate container, and the cgroupfs driver
// puts that container's cgroup under the parent, so the parent's pids.max bounds the step.
import { access, mkdir, readdir, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Every dopq build cgroup sits under this one, in each hierarchy (kept: other daemons share it). */
const PARENT = 'dopq-builds';

export interface BuildCgroup {
  /** The `cgroupparent` to give the engine: a path from the hierarchy's root. */
  parent: string;
}

/** Either the build's cgroup, or why the build runs without a pids limit. */
export type BuildCgroupResult = { cgroup: BuildCgroup } | { missing: string };

/** `name` holds the instance and job id: daemons of several spools share a host. */
export function buildCgroupName(instance: string, jobId: number): string {
  return `${instance}-${jobId}`;
}

/** Make the build's cgroup with pids.max; never throws: a build goes on without it. */
export async function makeBuildCgroup(name: string, pidsMax: number, driver: string, root = '/sys/fs/cgroup'): Promise<BuildCgroupResult> {
  // The systemd driver takes only slice names as a parent, and would fail the build on this path.
  if (driver !== 'cgroupfs') return { missing: `the engine's cgroup driver is ${driver || 'unknown'}, not cgroupfs` };
  try {
    if (await exists(path.join(root, 'cgroup.controllers'))) await makeUnified(root, name, pidsMax);
    else if (await exists(path.join(root, 'pids'))) await makeLeaf(path.join(root, 'pids', PARENT, name), pidsMax);
    else return { missing: `no pids controller under ${root}` };
  } catch (error) {
    return { missing: `cannot make its cgroup: ${(error as Error).message}` };
  }
  return { cgroup: { parent: `/${PARENT}/${name}` } };
}

// cgroup v2: the parent must hand the pids controller down before a child has pids.max.
async function makeUnified(root: string, name: string, pidsMax: number): Promise<void> {
  await mkdir(path.join(root, PARENT), { recursive: true });
  await writeFile(path.join(root, PARENT, 'cgroup.subtree_control'), '+pids');
  await makeLeaf(path.join(root, PARENT, name), pidsMax);
}

async function makeLeaf(dir: string, pidsMax: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'pids.max'), String(pidsMax));
}

/**
 * Remove the build's cgroup in every hierarchy (the engine made it in each v1 one, not only
 * pids). A cancelled step the engine is still tearing down keeps it busy for a moment: retried
 * for `patienceMs` in all (a stopping daemon waits on it), and the next daemon's sweep takes
 * what is left.
 */
export async function removeBuildCgroup(name: string, root = '/sys/fs/cgroup', patienceMs = 10_000): Promise<void> {
  const until = Date.now() + patienceMs;
  for (const dir of await cgroupDirs(root, name)) {
    for (;;) {
      try {
        await rmdir(dir);
        break;
      } catch (error) {
        // Gone (ENOENT), or not a cgroup of ours: nothing to wait for.
        if ((error as NodeJS.ErrnoException).code !== 'EBUSY' || Date.now() > until) break;
        await sleep(250);
      }
    }
  }
}

/** Remove the build cgroups a stopped daemon of this instance left; run before its first build. */
export async function sweepBuildCgroups(instance: string, root = '/sys/fs/cgroup'): Promise<void> {
  const names = new Set<string>();
  for (const parent of await hierarchies(root)) {
    for (const entry of await readdir(path.join(parent, PARENT)).catch(() => [] as string[])) {
      if (entry.startsWith(`${instance}-`)) names.add(entry);
    }
  }
  for (const name of names) await Promise.all((await cgroupDirs(root, name)).map((dir) => rmdir(dir).catch(() => undefined)));
}

async function cgroupDirs(root: string, name: string): Promise<string[]> {
  return (await hierarchies(root)).map((parent) => path.join(parent, PARENT, name));
}

// v2: the root itself; v1: each mounted hierarchy (cpu, pids, name=systemd, the hybrid "unified").
async function hierarchies(root: string): Promise<string[]> {
  if (await exists(path.join(root, 'cgroup.controllers'))) return [root];
  const entries = await readdir(root).catch(() => [] as string[]);
  return entries.map((entry) => path.join(root, entry));
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
