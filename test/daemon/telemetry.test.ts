// Live usage and idle GPUs on the real engine: a CPU-burning job shows about one core busy in
// `q --json`, and keeps a summary when it ends; a job on a GPU the fake nvidia-smi reports at 0%
// is flagged idle, then cancelled with reason idle-gpus when the config says so.
import { chmod, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import test from 'ava';
import { makeSpool } from '../helpers/spool.js';
import { alice } from '../helpers/users.js';

test('a CPU-burning job shows about 100% CPU and its memory against its limit; the finished job keeps mean and peak', async (t) => {
  const spool = await makeSpool(t, { telemetry: { interval: '1s' } });
  const daemon = spool.startDaemon();
  const id = await spool.push({ name: 'burn', cpus: 1, memory: '64m', command: 'while :; do :; done' }, alice());
  await spool.waitForJob(id, ['running']);
  // The second sample is the first with a CPU figure (an interval needs two readings). On a
  // loaded machine one interval may give the burner less than a core: any sample that shows most
  // of one is the figure; none may show more than the one CPU it may use.
  const seen: number[] = [];
  const usage = await spool.waitFor(
    'a sample near one core',
    async () => {
      const sample = (await spool.job(id))?.usage;
      if (sample?.cpu_percent === null || sample?.cpu_percent === undefined) return undefined;
      if (seen.at(-1) !== sample.cpu_percent) seen.push(sample.cpu_percent);
      return sample.cpu_percent > 50 ? sample : undefined;
    },
    60_000,
  );
  t.log(`cpu_percent samples: ${seen.join(', ')}`);
  t.true(
    seen.every((percent) => percent < 150),
    `one CPU at most (cpus: 1): ${seen.join(', ')}`,
  );
  t.true(usage.memory_bytes > 0);
  t.true(usage.memory_peak_bytes >= usage.memory_bytes);
  t.is(usage.memory_limit_bytes, 64 * 1024 ** 2);
  t.is(usage.gpu_util_percent, null, 'a static GPU list has no utilization to show');
  t.false((await spool.job(id))!.idle);
  const table = await spool.cli(['q', '-w']);
  t.regex(table.stdout, /│ cpu +│ mem +│ gpu use/);
  t.regex(table.stdout, /│ \d+% +│ [\d.]+[KMG]?\/64M +│/);
  t.is((await spool.cli(['rm', String(id)], { user: alice() })).code, 0);
  const ended = await spool.waitForJob(id, ['cancelled']);
  t.is(ended.usage, null);
  t.truthy(ended.usage_summary);
  t.true(ended.usage_summary!.cpu_percent_peak! > 50, JSON.stringify(ended.usage_summary));
  t.true(ended.usage_summary!.memory_peak_bytes > 0);
  await daemon.stop();
});

const UUID0 = 'GPU-00000000-1111-2222-3333-444444444444';
const UUID1 = 'GPU-11111111-1111-2222-3333-444444444444';

test('a job on a GPU at 0% is flagged idle, its owner’s webhook hears it, then cancelled idle-gpus; a GPU used outside dopq stays busy', async (t) => {
  // The owner's webhook, on loopback: what the daemon posts for the job.
  const events: { event: string; job: { id: number; user: string } }[] = [];
  const hook = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      events.push(JSON.parse(body) as (typeof events)[number]);
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  t.teardown(() => hook.close());
  const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/dopq`;
  const spool = await makeSpool(t, (dir) => ({
    notify: { channels: ['webhook'], webhook_allow: ['127.0.0.1'], timeout: '10s' },
    gpus: 'auto',
    nvidia_smi: path.join(dir, 'nvidia-smi'),
    gpu_poll_interval: '1s',
    telemetry: { interval: '1s' },
    idle: { threshold: 5, after: '1s', action: 'cancel', cancel_after: '6s' },
  }));
  const fake = path.join(spool.dir, 'nvidia-smi');
  await writeFile(
    fake,
    `#!/bin/sh
case "$1" in
  --query-gpu=*) printf 'index, uuid, name, memory.total [MiB], memory.used [MiB], utilization.gpu [%%]\\n0, ${UUID0}, NVIDIA H100 80GB HBM3, 81559, 1234, 0\\n1, ${UUID1}, NVIDIA H100 80GB HBM3, 81559, 30000, 0\\n' ;;
  --query-compute-apps=*) printf 'gpu_uuid, pid, used_gpu_memory [MiB]\\n${UUID1}, 1, 30000\\n' ;;
  *) exit 9 ;;
esac
`,
  );
  await chmod(fake, 0o755);
  const daemon = spool.startDaemon();
  const id = await spool.push({ name: 'notebook', command: 'sleep 600', notify: { on: ['idle'], webhook: hookUrl } }, alice());
  await spool.waitForJob(id, ['running']);
  const flagged = await spool.waitFor('the job flagged idle', async () => {
    const job = await spool.job(id);
    return job?.idle ? job : undefined;
  });
  t.is(flagged.state, 'running', 'flagged before it is cancelled');
  t.deepEqual(flagged.gpus, [UUID0]);
  t.is(flagged.usage?.gpu_util_percent, 0);
  t.is(flagged.usage?.gpu_memory_mib, 1234);
  t.regex((await spool.cli(['q', '-w'])).stdout, /idle 0% 1234M/);
  const view = await spool.q();
  t.is(view.gpus.find((gpu) => gpu.id === UUID1)?.state, 'busy', 'the GPU another process uses is busy, not idle');
  const ended = await spool.waitForJob(id, ['cancelled', 'failed', 'done'], 30_000);
  t.is(ended.state, 'cancelled');
  t.is(ended.reason, 'idle-gpus');
  t.false(ended.idle);
  t.is(ended.usage_summary?.gpu_util_percent_peak, 0);
  const idle = await spool.waitFor('the idle event at the webhook', async () => events.find((e) => e.event === 'idle'));
  t.like(idle, { job: { id, user: 'dopq-alice' } });
  t.deepEqual(
    events.map((e) => e.event),
    ['idle'],
    'notify: on: [idle] only',
  );
  await daemon.stop();
});
