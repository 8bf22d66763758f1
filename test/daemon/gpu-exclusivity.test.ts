// No GPU is ever held by two jobs, checked from inside the containers: each job takes a lock
// folder per GPU it was given on a shared mount, and reports a collision if one already exists.
import test from 'ava';
import { makeSpool } from '../helpers/spool.js';
import { alice, bob } from '../helpers/users.js';

test('concurrent pushes from two users never share a GPU', async (t) => {
  const spool = await makeSpool(t, { gpus: [0, 1, 2] });
  const users = [alice(), bob()];
  const daemon = spool.startDaemon();
  const script = [
    'for g in $(echo "$NVIDIA_VISIBLE_DEVICES" | tr , " "); do',
    `  mkdir ${spool.shared}/gpu-$g 2>/dev/null || echo "COLLISION on $g"`,
    'done',
    'echo "job $DOPQ_JOB_ID gpus=$DOPQ_GPUS nvidia=$NVIDIA_VISIBLE_DEVICES"',
    'sleep 1',
    'for g in $(echo "$NVIDIA_VISIBLE_DEVICES" | tr , " "); do rmdir ' + `${spool.shared}/gpu-$g; done`,
  ].join('\n');
  const manifests = Array.from({ length: 10 }, (_, i) => ({
    name: `ex-${i}`,
    command: script,
    gpus: (i % 3) + 1 === 3 ? 2 : (i % 3) + 1,
    mounts: [`${spool.shared}:${spool.shared}`],
  }));
  const ids = await Promise.all(manifests.map((m, i) => spool.push(m, users[i % 2])));
  t.is(new Set(ids).size, ids.length, 'every push got its own id');

  for (const id of ids) await spool.waitForJob(id, ['done', 'failed'], 120_000);
  const view = await spool.q();
  for (const id of ids) {
    const job = view.jobs.find((j) => j.id === id)!;
    t.is(job.state, 'done', `job ${id}: ${job.message}`);
    const log = await spool.cli(['log', String(id)]);
    t.notRegex(log.stdout, /COLLISION/, `job ${id} found its GPU taken`);
    const reported = /gpus=(\S*) nvidia=(\S*)/.exec(log.stdout);
    t.truthy(reported, `job ${id} printed its GPUs: ${log.stdout}`);
    t.is(reported![1], reported![2], 'DOPQ_GPUS and NVIDIA_VISIBLE_DEVICES agree');
    t.is(reported![1]!.split(',').length, job.gpus_requested, 'got as many GPUs as asked for');
  }
  // Intervals on each GPU from the state never overlap either.
  const byGpu = new Map<string, [number, number][]>();
  for (const job of view.jobs) {
    for (const gpu of job.gpus) byGpu.set(gpu, [...(byGpu.get(gpu) ?? []), [Date.parse(job.started_at!), Date.parse(job.finished_at!)]]);
  }
  for (const [gpu, spans] of byGpu) {
    spans.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) t.true(spans[i]![0] >= spans[i - 1]![1], `GPU ${gpu} held twice`);
  }
  await daemon.stop();
});
