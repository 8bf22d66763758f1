import test from 'ava';
import { containerOfCgroup, parseAppsQuery, parseGpuQuery } from '../../src/core/schedule/nvidia-smi-parse.js';

// As printed by `nvidia-smi --query-gpu=index,uuid,name,memory.total,memory.used,utilization.gpu --format=csv,nounits`.
const GPUS = `index, uuid, name, memory.total [MiB], memory.used [MiB], utilization.gpu [%]
0, GPU-5c1a2b3c-1111-2222-3333-444455556666, NVIDIA A100-SXM4-80GB, 81920, 1024, 37
1, GPU-6d2b3c4d-1111-2222-3333-444455556666, NVIDIA A100-SXM4-80GB, 81920, 0, [N/A]
`;

test('GPU query parsed by header; [N/A] becomes null', (t) => {
  t.deepEqual(parseGpuQuery(GPUS), [
    {
      index: 0,
      uuid: 'GPU-5c1a2b3c-1111-2222-3333-444455556666',
      name: 'NVIDIA A100-SXM4-80GB',
      memory_total_mib: 81920,
      memory_used_mib: 1024,
      utilization: 37,
    },
    {
      index: 1,
      uuid: 'GPU-6d2b3c4d-1111-2222-3333-444455556666',
      name: 'NVIDIA A100-SXM4-80GB',
      memory_total_mib: 81920,
      memory_used_mib: 0,
      utilization: null,
    },
  ]);
});

test('columns in another order still parse', (t) => {
  const text = 'uuid, index, name\nGPU-x, 3, T4\n';
  t.like(parseGpuQuery(text)[0], { index: 3, uuid: 'GPU-x', memory_total_mib: null });
});

test('compute apps, and no apps at all', (t) => {
  t.deepEqual(parseAppsQuery('gpu_uuid, pid, used_gpu_memory [MiB]\nGPU-x, 4242, 1000\n'), [
    { gpu_uuid: 'GPU-x', pid: 4242, used_memory_mib: 1000 },
  ]);
  t.deepEqual(parseAppsQuery('gpu_uuid, pid, used_gpu_memory [MiB]\n'), []);
  t.deepEqual(parseAppsQuery(''), []);
});

test('container ids from cgroupfs and systemd cgroup paths', (t) => {
  const id = 'a'.repeat(64);
  t.is(containerOfCgroup(`0::/docker/${id}\n`), id);
  t.is(containerOfCgroup(`0::/system.slice/docker-${id}.scope\n`), id);
  t.is(containerOfCgroup('0::/user.slice/user-1000.slice/session-2.scope\n'), undefined);
  t.is(containerOfCgroup(`12:memory:/docker/${id}\n11:cpuset:/docker/${id}\n`), id, 'cgroup v1');
});

test("a user's own cgroup named after a job's container is not that container", (t) => {
  // systemd delegates user@UID.service to its user, who may make any cgroup below it and move a
  // process in: that process on a GPU must stay someone else's (busy), not the job's.
  const id = 'a'.repeat(64);
  const user = '0::/user.slice/user-1000.slice/user@1000.service';
  t.is(containerOfCgroup(`${user}/docker-${id}.scope\n`), undefined);
  t.is(containerOfCgroup(`${user}/docker/${id}\n`), undefined);
  t.is(containerOfCgroup(`${user}/system.slice/docker-${id}.scope\n`), undefined);
  t.is(containerOfCgroup(`1:name=systemd:${user.slice(3)}/docker/${id}\n`), undefined);
  // A cgroup the container made below its own is no container of ours either (as before).
  t.is(containerOfCgroup(`0::/system.slice/docker-${id}.scope/inner\n`), undefined);
});
