// Container cgroup files, v1 and v2 layouts, read as the sampler reads them (a temp folder stands in for /sys/fs/cgroup).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { ContainerCgroups } from '../../src/io/host/container-cgroup.js';

const ID = 'a'.repeat(64);

async function tree(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'dopq-cgroup-'));
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await writeFile(path.join(root, file), text);
  }
  return root;
}

test('cgroup v2 (systemd driver): usage_usec, memory less inactive file pages, peak, limit', async (t) => {
  const dir = `system.slice/docker-${ID}.scope`;
  const root = await tree({
    [`${dir}/cpu.stat`]: 'usage_usec 2500000\nuser_usec 2000000\n',
    [`${dir}/memory.current`]: '10485760\n',
    [`${dir}/memory.stat`]: 'anon 1\ninactive_file 4194304\nactive_file 0\n',
    [`${dir}/memory.peak`]: '20971520\n',
    [`${dir}/memory.max`]: 'max\n',
  });
  t.teardown(() => rm(root, { recursive: true, force: true }));
  t.deepEqual(await new ContainerCgroups(root).read(ID, 7), {
    cpu_usec: 2_500_000,
    memory_bytes: 6 * 1024 ** 2,
    memory_peak_bytes: 20 * 1024 ** 2,
    memory_limit_bytes: null,
    at: 7,
  });
});

test('cgroup v1 (cgroupfs driver): cpuacct.usage in ns; a 2^63 limit is none; a container gone reads null', async (t) => {
  const root = await tree({
    [`cpuacct/docker/${ID}/cpuacct.usage`]: '3000000000\n',
    [`memory/docker/${ID}/memory.usage_in_bytes`]: '1048576\n',
    [`memory/docker/${ID}/memory.stat`]: 'cache 0\ntotal_inactive_file 0\n',
    [`memory/docker/${ID}/memory.max_usage_in_bytes`]: '2097152\n',
    [`memory/docker/${ID}/memory.limit_in_bytes`]: '9223372036854771712\n',
  });
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const cgroups = new ContainerCgroups(root);
  t.deepEqual(await cgroups.read(ID, 1), {
    cpu_usec: 3_000_000,
    memory_bytes: 1048576,
    memory_peak_bytes: 2097152,
    memory_limit_bytes: null,
    at: 1,
  });
  await writeFile(path.join(root, `memory/docker/${ID}/memory.limit_in_bytes`), '67108864\n');
  t.is((await cgroups.read(ID, 2))?.memory_limit_bytes, 64 * 1024 ** 2);
  await rm(path.join(root, 'cpuacct'), { recursive: true });
  t.is(await cgroups.read(ID, 3), null);
  t.is(await cgroups.read('b'.repeat(64), 3), null, 'never found');
});

test('only an engine container id is read: a name with a path in it finds nothing, though the files exist', async (t) => {
  // The daemon reads these as root: an id is looked up only as the engine writes one (hex), never as a path.
  const root = await tree({ 'elsewhere/cpu.stat': 'usage_usec 1\n', 'elsewhere/memory.current': '1\n' });
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const cgroups = new ContainerCgroups(root);
  t.is(await cgroups.read('../elsewhere', 1), null);
  t.is(await cgroups.read(`${'a'.repeat(64)}/../../elsewhere`, 1), null);
});
