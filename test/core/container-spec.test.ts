import test from 'ava';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { containerSpec } from '../../src/core/job/container-spec.js';
import type { JobSpec } from '../../src/core/job/job.js';
import { parseManifest } from '../../src/core/job/manifest.js';
import { parseConfig } from '../../src/core/config/config.js';
import { testConfig } from './fixtures.js';

const host = (binds: string[] = [], groups: number[] = []) => ({ gid: 1001, groups, binds });

function spec(text: string, config = testConfig()): JobSpec {
  const result = parseManifest(text, config);
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return { id: 7, uid: 1001, user: 'alice', manifest: result.manifest, image: result.manifest.image ?? 'built' };
}

test('env mode: NVIDIA_VISIBLE_DEVICES and DOPQ_GPUS name the host GPUs; no CUDA_VISIBLE_DEVICES', (t) => {
  const options = containerSpec(spec('image: a\ngpus: 2\nenv: {A: b}\n'), ['1', '3'], testConfig(), 'inst', host([]));
  t.deepEqual(options.Env, ['A=b', 'DOPQ_JOB_ID=7', 'DOPQ_GPUS=1,3', 'NVIDIA_VISIBLE_DEVICES=1,3']);
  t.is(options.HostConfig.DeviceRequests, undefined);
  t.false(options.Env.some((e) => e.startsWith('CUDA_VISIBLE_DEVICES')));
});

test('device-requests mode: what docker run --gpus device=... sends', (t) => {
  const config = parseConfig('gpus: [GPU-a, GPU-b]\n', '/etc/dopq/dopq.yaml');
  const options = containerSpec(spec('image: a\ngpus: 1\n', config), ['GPU-b'], config, 'inst', host([]));
  t.deepEqual(options.HostConfig.DeviceRequests, [
    { Driver: 'nvidia', Count: 0, DeviceIDs: ['GPU-b'], Capabilities: [['gpu']], Options: {} },
  ]);
  t.false(options.Env.some((e) => e.startsWith('NVIDIA_VISIBLE_DEVICES')));
});

test('a job without GPUs gets NVIDIA_VISIBLE_DEVICES=void in both modes', (t) => {
  for (const mode of ['env', 'device-requests']) {
    const config = parseConfig(`gpus: [0]\ngpu_assignment: ${mode}\ndefaults: {gpus: 0}\n`, '/etc/dopq/dopq.yaml');
    const options = containerSpec(spec('image: a\ngpus: 0\n', config), [], config, 'inst', host([]));
    t.true(options.Env.includes('NVIDIA_VISIBLE_DEVICES=void'), mode);
    t.is(options.HostConfig.DeviceRequests, undefined);
  }
});

test('hardening and limits are always set; labels carry job and owner', (t) => {
  const options = containerSpec(spec('image: a\nmemory: 2g\ncpus: 1.5\nshm: 128m\n'), ['0'], testConfig(), 'inst', host(['/data/x:/x:ro']));
  t.like(options.HostConfig, {
    Memory: 2 * 1024 ** 3,
    MemorySwap: 2 * 1024 ** 3,
    NanoCpus: 1.5e9,
    ShmSize: 128 * 1024 ** 2,
    Privileged: false,
    NetworkMode: 'none',
    Binds: ['/data/x:/x:ro'],
  });
  t.deepEqual(options.HostConfig.CapDrop, ['ALL']);
  t.like(options.HostConfig, {
    CapAdd: [],
    Devices: [],
    DeviceCgroupRules: [],
    GroupAdd: [],
    IpcMode: 'private',
    PidMode: '',
    UTSMode: '',
    UsernsMode: '',
    CgroupnsMode: 'private',
  });
  t.deepEqual(options.HostConfig.SecurityOpt, ['no-new-privileges']);
  t.true(options.HostConfig.PidsLimit > 0);
  t.is(options.User, '1001:1001');
  t.deepEqual(options.Labels, { 'dopq.job': '7', 'dopq.user': 'alice', 'dopq.uid': '1001', 'dopq.instance': 'inst' });
  t.is(options.name, 'dopq-inst-7');
});

test('supplementary groups are passed as gids; nothing from the manifest reaches HostConfig', (t) => {
  const options = containerSpec(spec('image: a\n'), ['0'], testConfig(), 'inst', host([], [44, 1500]));
  t.deepEqual(options.HostConfig.GroupAdd, ['44', '1500']);
  t.is(options.User, '1001:1001');
});

test('property: whatever a valid manifest says, the container spec keeps every hardening field', (t) => {
  const config = testConfig('network: {default: none, allowed: [none, bridge]}\ncontainer_groups: [video]\n');
  const value = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constantFrom('all', '0', 'host', '/var/run/docker.sock'));
  // Mostly names a job may set; sometimes the GPU ones, which must be refused before this point.
  const envName = fc.oneof(
    { weight: 1, arbitrary: fc.constantFrom('NVIDIA_VISIBLE_DEVICES', 'CUDA_VISIBLE_DEVICES', 'DOPQ_GPUS') },
    { weight: 12, arbitrary: fc.oneof(fc.constantFrom('LD_PRELOAD', 'PATH', 'HOME'), fc.stringMatching(/^[A-Z][A-Z0-9_]{0,8}$/)) },
  );
  const manifest = fc.record(
    {
      image: fc.constantFrom('a', 'pytorch/pytorch:2.3', 'x:1'),
      command: fc.oneof(fc.string({ minLength: 1 }), fc.array(fc.string(), { minLength: 1, maxLength: 3 })),
      gpus: fc.integer({ min: 0, max: 4 }),
      memory: fc.constantFrom('64m', '1g', '8g'),
      cpus: fc.constantFrom(0.5, 1, 8),
      env: fc.dictionary(envName, value, { maxKeys: 4 }),
      network: fc.constantFrom('none', 'bridge', 'host'),
      mounts: fc.array(fc.constantFrom('/data/a:/a', '/data/b:/b:ro'), { maxLength: 2 }),
    },
    { requiredKeys: ['image'] },
  );
  let accepted = 0;
  fc.assert(
    fc.property(manifest, fc.integer({ min: 1, max: 60000 }), (fields, uid) => {
      const parsed = parseManifest(stringify(fields), config);
      if (!parsed.ok) return true; // refused: nothing reaches Docker
      accepted += 1;
      const gpus = ['0', '1', '2', '3'].slice(0, parsed.manifest.gpus);
      const options = containerSpec(
        { id: 1, uid, user: 'u', manifest: parsed.manifest, image: parsed.manifest.image ?? 'built' },
        gpus,
        config,
        'inst',
        host([], [44]),
      );
      const h = options.HostConfig;
      const env = options.Env;
      return (
        h.Privileged === false &&
        h.CapDrop.join() === 'ALL' &&
        h.CapAdd.length === 0 &&
        h.SecurityOpt.join() === 'no-new-privileges' &&
        h.PidsLimit > 0 &&
        h.Memory > 0 &&
        h.MemorySwap === h.Memory &&
        h.IpcMode === 'private' &&
        h.PidMode === '' &&
        h.UTSMode === '' &&
        h.Devices.length === 0 &&
        h.Binds.length === 0 &&
        ['none', 'bridge'].includes(h.NetworkMode) &&
        options.User === `${uid}:1001` &&
        !env.some((e) => e.startsWith('CUDA_VISIBLE_DEVICES=')) &&
        env.filter((e) => e.startsWith('NVIDIA_')).join() ===
          (gpus.length === 0 ? 'NVIDIA_VISIBLE_DEVICES=void' : `NVIDIA_VISIBLE_DEVICES=${gpus.join(',')}`)
      );
    }),
    { numRuns: 3000 },
  );
  t.log(`${accepted} of 3000 random manifests were valid and reached the spec`);
  t.true(accepted > 1000);
});

test('an interactive job gets a terminal and an open stdin, and the same hardening; others get neither', (t) => {
  const plain = containerSpec(spec('image: a\n'), ['0'], testConfig(), 'inst', host());
  t.like(plain, { Tty: false, AttachStdin: false, OpenStdin: false, StdinOnce: false });
  const shell = containerSpec(spec('image: a\ninteractive: true\ncommand: [/bin/sh]\n'), ['0'], testConfig(), 'inst', host());
  t.like(shell, { Tty: true, AttachStdin: true, OpenStdin: true, StdinOnce: false, User: '1001:1001' });
  t.deepEqual(shell.HostConfig, plain.HostConfig, 'nothing else changes');
  t.false(parseManifest('image: a\ninteractive: yes please\n', testConfig()).ok);
});
