import test from 'ava';
import fc from 'fast-check';
import { claimedJobOwner, namesForeignJobImage, repositoryOf } from '../../src/core/job/image-names.js';
import { emptyImageRecord, judgeImage, withImage, type ImageFacts, type OwnedImage } from '../../src/core/job/image-ownership.js';

const ALICE = 1001;
const BOB = 1002;
const hex = (c: string) => `sha256:${c.repeat(64)}`;

test("every spelling of another user's job image name is refused by name; the owner's own is not", (t) => {
  const spellings = [
    'dopq-abc/u1001:job-5',
    'docker.io/dopq-abc/u1001:job-5',
    'index.docker.io/dopq-abc/u1001:job-5',
    'DOCKER.IO/DOPQ-ABC/U1001:JOB-5',
    'dopq-abc/u1001',
    `dopq-abc/u1001@${hex('a')}`,
    `dopq-abc/u1001:job-5@${hex('a')}`,
    'library/dopq-abc/u1001:job-5',
    'dopq-otherspool/u1001:job-1',
  ];
  for (const name of spellings) {
    t.true(namesForeignJobImage(name, BOB), name);
    t.false(namesForeignJobImage(name, ALICE), `${name} is alice's own`);
  }
  for (const name of ['busybox', 'pytorch/pytorch:2.3', 'dopq-busybox:latest', 'registry:5000/dopq-abc/u1001:job-5']) {
    t.false(namesForeignJobImage(name, BOB), name);
  }
  t.true(namesForeignJobImage('dopq-abc/u01002:job-5', BOB), 'only the exact spelling of the own uid is own');
  t.is(repositoryOf('Docker.io/Library/Busybox:1.36@sha256:00'), 'busybox');
  t.deepEqual(claimedJobOwner('dopq-x1/u7:job-2'), { instance: 'x1', uid: '7' });
});

const owned = (over: Partial<OwnedImage>): OwnedImage => ({
  id: hex('a'),
  uid: ALICE,
  job: 5,
  layers: ['l1', 'l2'],
  base_layers: 1,
  at: 0,
  ...over,
});
const facts = (over: Partial<ImageFacts>): ImageFacts => ({
  id: hex('f'),
  repoTags: ['busybox:latest'],
  repoDigests: [],
  layers: ['l1'],
  ancestors: [],
  ...over,
});

test("an image ID in the record is its owner's alone, whatever name or tag points at it", (t) => {
  const record = withImage(emptyImageRecord(), owned({}));
  const alices = facts({ id: hex('a'), repoTags: ['dopq-abc/u1001:job-5', 'shared:1'], layers: ['l1', 'l2'] });
  t.deepEqual(judgeImage(alices, ALICE, record), { ok: true, own: true });
  t.deepEqual(judgeImage(alices, BOB, record), { ok: false, why: "is another user's job image" });
});

test("an image built on another user's job image is refused, by layers or by parent", (t) => {
  const record = withImage(emptyImageRecord(), owned({}));
  t.false(judgeImage(facts({ layers: ['l1', 'l2', 'l3'] }), BOB, record).ok, "layers start with alice's");
  t.true(judgeImage(facts({ layers: ['l1', 'l3'] }), BOB, record).ok, 'shares only the public base');
  t.false(judgeImage(facts({ ancestors: [hex('b'), hex('a')] }), BOB, record).ok, "alice's image among its parents");
  // An image of alice's that added no layers shares its base's: only the parent chain counts.
  const configOnly = withImage(emptyImageRecord(), owned({ layers: ['l1'], base_layers: 1 }));
  t.true(judgeImage(facts({ layers: ['l1'] }), BOB, configOnly).ok, 'the public base stays usable');
});

test("untagged images and bare job tags that nobody recorded are nobody's to use", (t) => {
  const record = emptyImageRecord();
  t.false(judgeImage(facts({ repoTags: [] }), BOB, record).ok);
  t.false(judgeImage(facts({ repoTags: ['<none>:<none>'] }), BOB, record).ok);
  t.false(judgeImage(facts({ repoTags: ['dopq-abc/u1002:job-9'] }), BOB, record).ok, 'a job tag is not an installed name');
  t.true(judgeImage(facts({ repoTags: [], repoDigests: ['busybox@sha256:00'] }), BOB, record).ok, 'pulled by digest');
});

test('property: no image that is or descends from a foreign recorded image passes for another user', (t) => {
  const layer = fc.constantFrom('l1', 'l2', 'l3', 'l4', 'l5');
  fc.assert(
    fc.property(
      fc.array(layer, { minLength: 1, maxLength: 4 }),
      fc.nat(3),
      fc.array(layer, { maxLength: 3 }),
      fc.boolean(),
      (layers, baseCut, extra, viaParent) => {
        const base_layers = Math.min(baseCut, layers.length - 1);
        const record = withImage(emptyImageRecord(), owned({ layers, base_layers }));
        const child = facts({ layers: [...layers, ...extra], ancestors: viaParent ? [hex('a')] : [], repoTags: ['x:1'] });
        return !judgeImage(child, BOB, record).ok;
      },
    ),
    { numRuns: 2000 },
  );
  t.pass();
});

test("an image made of a strict prefix of another user's own layers is refused (an archive can name layers the engine has)", (t) => {
  const record = withImage(emptyImageRecord(), owned({ layers: ['base', 'secret', 'key', 'last'], base_layers: 1 }));
  t.false(judgeImage(facts({ layers: ['base', 'secret'] }), BOB, record).ok);
  t.false(judgeImage(facts({ layers: ['base', 'secret', 'key', 'other'] }), BOB, record).ok);
  t.true(judgeImage(facts({ layers: ['base', 'mine'] }), BOB, record).ok, 'the shared base alone is fine');
  t.true(judgeImage(facts({ layers: ['base', 'secret'] }), ALICE, record).ok, 'her own layers are hers');
});
