// `gpus: auto`: GPUs from nvidia-smi, tracked by UUID, shown by index; a GPU busy with a process
// that dopq did not start is not handed out. A fake nvidia-smi stands in on this GPU-less machine
// (its output format is the real one's, per nvidia-smi --help-query-gpu).
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { makeSpool } from '../helpers/spool.js';
import { alice } from '../helpers/users.js';

const UUID0 = 'GPU-00000000-1111-2222-3333-444444444444';
const UUID1 = 'GPU-11111111-1111-2222-3333-444444444444';

test('auto mode hands out only GPUs nobody else uses, by UUID', async (t) => {
  const spool = await makeSpool(t);
  const fake = path.join(spool.dir, 'nvidia-smi');
  await writeFile(
    fake,
    `#!/bin/sh
case "$1" in
  --query-gpu=*) printf 'index, uuid, name, memory.total [MiB], memory.used [MiB], utilization.gpu [%%]\\n0, ${UUID0}, NVIDIA H100 80GB HBM3, 81559, 0, 0\\n1, ${UUID1}, NVIDIA H100 80GB HBM3, 81559, 30000, [N/A]\\n' ;;
  --query-compute-apps=*) printf 'gpu_uuid, pid, used_gpu_memory [MiB]\\n${UUID1}, 1, 30000\\n' ;;
  *) exit 9 ;;
esac
`,
  );
  await chmod(fake, 0o755);
  await writeFile(
    spool.configFile,
    `spool: ./spool\ngpus: auto\nnvidia_smi: ${fake}\ngpu_assignment: env\nkeep_containers: 1h\nrescan_interval: 1s\ngpu_poll_interval: 1s\ndefaults: {memory: 64m, cpus: 0.5}\n`,
  );
  const daemon = spool.startDaemon();
  const first = await spool.push({ name: 'first', command: 'echo "gpus=$DOPQ_GPUS"; sleep 1' }, alice());
  const second = await spool.push({ name: 'second', command: 'echo "gpus=$DOPQ_GPUS"' }, alice());
  const a = await spool.waitForJob(first, ['done']);
  const b = await spool.waitForJob(second, ['done']);
  t.deepEqual(a.gpus, [UUID0]);
  t.deepEqual(b.gpus, [UUID0], 'GPU 1 is busy with pid 1, which is not ours');
  t.true(Date.parse(b.started_at!) >= Date.parse(a.finished_at!), 'so the second job waited for GPU 0');
  t.regex((await spool.cli(['log', String(first)])).stdout, new RegExp(`gpus=${UUID0}`));
  const view = await spool.q();
  t.deepEqual(
    view.gpus.map((g) => [g.index, g.id, g.state]),
    [
      [0, UUID0, 'free'],
      [1, UUID1, 'busy'],
    ],
  );
  const tables = await spool.cli(['q']);
  t.regex(tables.stdout, /1\/2 free {2}\[0:free 1:busy\]/, 'people see indices');
  await daemon.stop();
});

test('auto mode without a working nvidia-smi: run exits 69 with advice', async (t) => {
  const spool = await makeSpool(t);
  await writeFile(spool.configFile, `spool: ./spool\ngpus: auto\nnvidia_smi: /nonexistent/nvidia-smi\n`);
  const result = await spool.cli(['run', '--once']);
  t.is(result.code, 69);
  t.regex(result.stderr, /nvidia-smi failed/);
  t.regex(result.stderr, /hint: install the NVIDIA driver, or list the GPUs in the config/);
});

test('log -f follows a running job to its end', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const daemon = spool.startDaemon();
  const gate = spool.gate('follow');
  const id = await spool.push({ name: 'chatty', command: `echo before; ${gate.wait}; echo after`, mounts: gate.mounts }, alice());
  await spool.waitForJob(id, ['running']);
  const following = spool.cli(['log', '-f', String(id)], { user: alice() });
  await new Promise((r) => setTimeout(r, 500));
  await gate.open();
  const result = await following;
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /before\s+after/);
  t.is((await spool.job(id))!.state, 'done');
  await daemon.stop();
});
