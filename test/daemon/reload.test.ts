// Reloading the real daemon's config with real users: SIGHUP (what `systemctl reload` sends) and
// `dopq reload` by an admin apply a new GPU list without a restart; a non-admin is refused by the
// CLI and, bypassing it, by the daemon; a config others could write is refused with its reason
// (exit 78, the reason in q) while the old one stays; with no daemon, exit 69.
import { chmod, chown, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { parse, stringify } from 'yaml';
import { encodeRequest } from '../../src/core/job/envelope.js';
import { makeSpool } from '../helpers/spool.js';
import { alice, bob } from '../helpers/users.js';

async function setGpus(configFile: string, gpus: number[]): Promise<void> {
  const config = parse(await readFile(configFile, 'utf8')) as Record<string, unknown>;
  await writeFile(configFile, stringify({ ...config, gpus }));
}

test('SIGHUP and `dopq reload` (admins only) apply a new config to the running daemon; a refused one keeps the old', async (t) => {
  const spool = await makeSpool(t, { gpus: [0], admins: ['dopq-alice'] });
  const daemon = spool.startDaemon();
  await spool.waitFor('the daemon to pass', async () => {
    const view = await spool.q();
    return view.daemon.running && view.gpus_total === 1;
  });

  // SIGHUP: the next pass hands out two GPUs; the process is the same.
  await setGpus(spool.configFile, [0, 1]);
  daemon.child.kill('SIGHUP');
  await spool.waitFor('two GPUs after SIGHUP', async () => (await spool.q()).gpus_total === 2);
  t.is(daemon.child.exitCode, null, 'SIGHUP does not stop the daemon');
  await spool.waitFor('the reload in the log', async () => /config reloaded \(SIGHUP\) from .*: changed gpus/.test(daemon.output()));

  // `dopq reload` by a non-admin: refused by the CLI, and by the daemon when the CLI is bypassed.
  await setGpus(spool.configFile, [0, 1, 2]);
  const refused = await spool.cli(['reload'], { user: bob() });
  t.is(refused.code, 77, refused.stderr);
  t.regex(refused.stderr, /only admins may do this \(dopq-bob is not one\)/);
  const at = Date.now();
  const forged = path.join(spool.spoolDir, 'requests', `${String(at).padStart(15, '0')}-forged.req`);
  // Bob's from the start: written under a dot name the daemon skips, given to bob, then renamed into place.
  const temp = path.join(path.dirname(forged), '.forged');
  await writeFile(temp, encodeRequest({ op: 'reload', token: 'feedfacefeedface', at }), { mode: 0o600 });
  await chown(temp, bob().uid, bob().gid);
  await rename(temp, forged);
  await spool.waitFor('the forged request to be refused', async () => daemon.output().includes('refused reload by dopq-bob: admins only'));
  t.is((await spool.q()).gpus_total, 2, "bob's request changed nothing");

  // An admin's `dopq reload` waits for the daemon's answer: applied, and what changed.
  const applied = await spool.cli(['reload'], { user: alice() });
  t.is(applied.code, 0, applied.stderr);
  t.is(applied.stdout, 'reloaded: changed gpus\n');
  t.is((await spool.q()).gpus_total, 3, 'in force once the answer came');

  // A config others could write is refused as at start: exit 78 with the reason, and q says so.
  await setGpus(spool.configFile, [0]);
  await chmod(spool.configFile, 0o666);
  const unsafe = await spool.cli(['reload']);
  t.is(unsafe.code, 78, unsafe.stderr);
  t.regex(unsafe.stderr, /refused; the daemon keeps its running config:\n[\s\S]*dopq\.yaml: has mode 0666, writable by others/);
  const q = await spool.cli(['q']);
  t.regex(q.stdout, /Config\s+reload refused at .* \(root\): .*dopq\.yaml: has mode 0666, writable by others.*; the running config stays/);
  t.is((await spool.q()).gpus_total, 3, 'the old config stays in force');
  await chmod(spool.configFile, 0o644);

  t.is(await daemon.stop(), 0);
  const none = await spool.cli(['reload'], { user: alice() });
  t.is(none.code, 69, none.stderr);
  t.regex(none.stderr, /no daemon is running on this spool/);
});
