// `gpus: auto`: GPUs from nvidia-smi, tracked by UUID, shown by index; a GPU busy with a process
// that dopq did not start is not handed out. A fake nvidia-smi stands in on this GPU-less machine
// (its output format is the real one's, per nvidia-smi --help-query-gpu).
import { spawn } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { CLI, type CliResult } from '../helpers/cli.js';
import { makeSpool, type TestSpool } from '../helpers/spool.js';
import { alice, type UnixUser } from '../helpers/users.js';

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
    `spool: ./spool\ngpus: auto\nnvidia_smi: ${fake}\ngpu_assignment: env\nkeep_containers: 1h\nrescan_interval: 1s\ngpu_poll_interval: 1s\ndefaults: {memory: 64m, cpus: 0.5}\nmounts: {allowed_roots: [${spool.dir}]}\n`,
  );
  const daemon = spool.startDaemon();
  // first holds GPU 0 until second is queued behind it: a gate, not a guess at how long that takes.
  const gate = spool.gate('first');
  const first = await spool.push({ name: 'first', command: `echo "gpus=$DOPQ_GPUS"; ${gate.wait}`, mounts: gate.mounts }, alice());
  await spool.waitForJob(first, ['running']);
  const second = await spool.push({ name: 'second', command: 'echo "gpus=$DOPQ_GPUS"' }, alice());
  await spool.waitFor('second in the state', async () => (await spool.job(second))?.ingested);
  await gate.open();
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

/** `dopq log -f` as `user`; `printed` resolves once its output holds `text`. */
function followLog(spool: TestSpool, id: number, user: UnixUser): { printed(text: string): Promise<void>; result: Promise<CliResult> } {
  const child = spawn(process.execPath, [CLI, '--config', spool.configFile, 'log', '-f', String(id)], {
    env: { ...process.env, NO_COLOR: '1', HOME: user.home, USER: user.name, LOGNAME: user.name },
    cwd: '/',
    uid: user.uid,
    gid: user.gid,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stderr.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => (output.stdout += chunk.toString()));
  const result = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, ...output }));
  });
  const printed = (text: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => output.stdout.includes(text) && resolve();
      check();
      child.stdout.on('data', check);
      void result.then(() => reject(new Error(`log -f ended before it printed ${text}: ${output.stderr}`)));
    });
  return { printed, result };
}

test('log -f follows a running job to its end', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const daemon = spool.startDaemon();
  const gate = spool.gate('follow');
  const id = await spool.push({ name: 'chatty', command: `echo before; ${gate.wait}; echo after`, mounts: gate.mounts }, alice());
  await spool.waitForJob(id, ['running']);
  const following = followLog(spool, id, alice());
  await following.printed('before'); // it follows the running job before the job goes on
  await gate.open();
  const result = await following.result;
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /before\s+after/);
  t.is((await spool.job(id))!.state, 'done');
  await daemon.stop();
});
