// DoPQ's drop format: a zip (or folder) with a Dockerfile and container_config.json becomes a dopq
// build job; foreign executors, zip slip, links and zip bombs are refused before anything is written.
import { execFileSync, execSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { IMAGE, makeSpool, type TestSpool } from '../helpers/spool.js';
import { alice, type UnixUser } from '../helpers/users.js';

/** A zip made with Python's zipfile: `entries` are [name, text] or [name, text, 'symlink']; text `ZEROS:N` is N zero bytes. */
function makeZip(file: string, entries: [string, string, 'symlink'?][], user: UnixUser): void {
  const script = `
import json, sys, zipfile
entries = json.loads(sys.argv[2])
with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:
    for name, text, *kind in entries:
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = ((0o120777 if kind else 0o100644) << 16)
        z.writestr(info, b'\\0' * int(text[6:]) if text.startswith('ZEROS:') else text)
`;
  execFileSync('python3', ['-c', script, file, JSON.stringify(entries)]);
  execSync(`chown ${user.uid}:${user.gid} ${file}`);
}

const dockerfile = `FROM ${IMAGE}\nCOPY run.sh /run.sh\nCMD ["sh", "/run.sh"]\n`;
const config = (executor: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    name: 'mnist',
    executor_name: executor,
    num_gpus: 0,
    required_memory: '1',
    build_flag: true,
    run_params: { environment: { MODE: 'fast' } },
    ...extra,
  });

async function pushZip(spool: TestSpool, name: string, entries: [string, string, 'symlink'?][], user: UnixUser) {
  const zip = path.join(spool.dir, `${name}.zip`);
  makeZip(zip, entries, user);
  return spool.cli(['push', '--json', zip], { user });
}

test("a DoPQ zip of the pushing user's runs as a build job, its environment taken from run_params", async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const a = alice();
  const daemon = spool.startDaemon();
  const pushed = await pushZip(
    spool,
    'ok',
    [
      ['Dockerfile', dockerfile],
      ['run.sh', 'echo dopq-zip-ran $MODE\n'],
      ['container_config.json', config(a.name)],
    ],
    a,
  );
  t.is(pushed.code, 0, pushed.stderr);
  const id = (JSON.parse(pushed.stdout) as { id: number }).id;
  const job = await spool.waitForJob(id, ['done', 'failed']);
  t.is(job.state, 'done', job.message ?? '');
  t.is(job.name, 'mnist');
  t.regex((await spool.cli(['log', String(id)], { user: a })).stdout, /dopq-zip-ran fast/);
  await daemon.stop();
});

test('DoPQ zips are refused: a foreign executor_name, unmapped run_params, zip slip, links, bombs', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const a = alice();
  const base: [string, string][] = [
    ['Dockerfile', dockerfile],
    ['run.sh', 'true\n'],
  ];
  const cases: [string, [string, string, 'symlink'?][], RegExp][] = [
    ['foreign', [...base, ['container_config.json', config('dopq-bob')]], /executor_name: is "dopq-bob", but you are dopq-alice/],
    [
      'privileged',
      [...base, ['container_config.json', config(a.name, { run_params: { privileged: true, volumes: { '/': {} } } })]],
      /run_params\.privileged: not taken by dopq[\s\S]*run_params\.volumes: not taken/,
    ],
    [
      'slip',
      [...base, ['container_config.json', config(a.name)], ['../../evil.sh', 'x']],
      /\.\.\/\.\.\/evil\.sh: invalid relative path.*\(zip slip\)/,
    ],
    [
      'absolute',
      [...base, ['container_config.json', config(a.name)], ['/etc/cron.d/evil', 'x']],
      /\/etc\/cron\.d\/evil: absolute path.*\(zip slip\)/,
    ],
    ['link', [...base, ['container_config.json', config(a.name)], ['data', '/etc/shadow', 'symlink']], /data: is a symbolic link/],
    [
      'bomb',
      [...base, ['container_config.json', config(a.name)], ['zeros', `ZEROS:${20 * 1024 * 1024}`]],
      /zeros: unpacks 20971520 bytes from \d+ \(over 100:1, a zip bomb\?\)/,
    ],
  ];
  for (const [name, entries, reason] of cases) {
    const result = await pushZip(spool, name, entries, a);
    t.is(result.code, 65, `${name}: ${result.stderr}`);
    t.regex(result.stderr, reason, name);
  }
  t.false(execSync(`ls -A ${path.join(spool.spoolDir, 'intake')}`, { encoding: 'utf8' }).includes('.job'), 'nothing was queued');
});

test('dopq convert prints the equivalent manifest; a DoPQ folder pushes like a zip', async (t) => {
  const spool = await makeSpool(t, { gpus: [0] });
  const a = alice();
  const folder = path.join(spool.dir, 'dopq-folder');
  await mkdir(folder);
  await writeFile(path.join(folder, 'Dockerfile'), dockerfile);
  await writeFile(path.join(folder, 'run.sh'), 'echo folder-ran\n');
  await writeFile(
    path.join(folder, 'container_config.json'),
    config(a.name, { run_params: { environment: ['MODE=slow'], mem_limit: '4g', working_dir: '/' } }),
  );
  execSync(`chown -R ${a.uid}:${a.gid} ${folder}`);
  const converted = await spool.cli(['convert', path.join(folder, 'container_config.json')], { user: a });
  t.is(converted.code, 0, converted.stderr);
  t.is(
    converted.stdout,
    '# converted from container_config.json by dopq convert; save next to it and dopq push it\n# run_params.mem_limit: DoPQ replaced it with required_memory; ignored\nname: mnist\ngpus: 0\nmemory: 1g\nbuild:\n  context: .\nenv:\n  MODE: slow\nworkdir: /\n',
  );
  t.is((await spool.cli(['convert', path.join(folder, 'container_config.json')])).code, 65, 'root is not the executor');
  const daemon = spool.startDaemon();
  const pushed = await spool.cli(['push', '--json', folder], { user: a });
  t.is(pushed.code, 0, pushed.stderr);
  const job = await spool.waitForJob((JSON.parse(pushed.stdout) as { id: number }).id, ['done', 'failed']);
  t.is(job.state, 'done', job.message ?? '');
  await daemon.stop();
});
