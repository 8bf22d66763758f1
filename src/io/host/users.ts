// Unix user and group names for uids, read from the system databases via getent, so LDAP/NIS
// users resolve like local ones.
import { execFile } from 'node:child_process';
import { userInfo } from 'node:os';
import { promisify } from 'node:util';
import type { Caller } from '../../core/permissions.js';

const run = promisify(execFile);

/**
 * The lines getent prints; [] when the key is not there (its exit 2). Any other failure (getent
 * could not run: no descriptors left, a timeout, a database it cannot read) is thrown: a user
 * the system cannot look up now is not a user who does not exist, and a job must not be failed,
 * or recorded under a uid, for it.
 */
async function getent(db: 'passwd' | 'group', key?: string): Promise<string[]> {
  try {
    const { stdout } = await run('getent', key === undefined ? [db] : [db, key], { timeout: 5000 });
    return stdout.split('\n').filter(Boolean);
  } catch (error) {
    if ((error as { code?: unknown }).code === 2) return [];
    throw new Error(`cannot look up the ${db} database${key === undefined ? '' : ` for ${key}`}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** How long a lookup is trusted: a flood of requests costs one `getent` per user, not per file. */
const TTL_MS = 30_000;

/** One shared answer per key for `TTL_MS`; callers at the same moment share one lookup. */
function ttlCache<K, V>(lookup: (key: K) => Promise<V>): (key: K) => Promise<V> {
  const entries = new Map<K, { at: number; value: Promise<V> }>();
  return (key) => {
    const now = Date.now();
    const hit = entries.get(key);
    if (hit && now - hit.at < TTL_MS) return hit.value;
    if (entries.size > 10_000) entries.clear(); // uids are few; never let a cache grow unbounded
    const value = lookup(key);
    const entry = { at: now, value };
    entries.set(key, entry);
    // A failure is not an answer to keep: the next caller looks again.
    value.catch(() => entries.get(key) === entry && entries.delete(key));
    return value;
  };
}

const cachedPasswd = ttlCache(async (key: string) => (await getent('passwd', key))[0]);
/** The whole group database, read once per `TTL_MS` whoever asks. */
const cachedGroups = ttlCache(async (_key: 'all') => getent('group'));

/** The login name of `uid`, or `uid<N>` when the system does not know it. */
export async function userName(uid: number): Promise<string> {
  const entry = await cachedPasswd(String(uid));
  return entry?.split(':')[0] || `uid${uid}`;
}

/** Caller identity for permission checks on a uid (the owner of a request file, say). */
export async function callerOf(uid: number): Promise<Caller> {
  const account = await accountOf(uid);
  return { uid, user: account?.user ?? (await userName(uid)), groups: account ? [...account.groups.keys()] : [] };
}

/** The identity of this process. */
export async function currentCaller(): Promise<Caller> {
  const uid = process.getuid?.() ?? userInfo().uid;
  return callerOf(uid);
}

/**
 * Group names of each user (primary and supplementary), from two whole-database reads rather
 * than one lookup per user; users the listing lacks (LDAP without enumeration) are asked singly.
 */
export async function groupsOfUsers(users: readonly string[]): Promise<Map<string, string[]>> {
  const [passwd, group] = await Promise.all([getent('passwd'), cachedGroups('all')]);
  const primaryGid = new Map<string, string>();
  for (const line of passwd) {
    const [name = '', , , gid = ''] = line.split(':');
    primaryGid.set(name, gid);
  }
  await Promise.all(
    users
      .filter((user) => !primaryGid.has(user))
      .map(async (user) => {
        const [entry] = await getent('passwd', user);
        if (entry) primaryGid.set(user, entry.split(':')[3] ?? '');
      }),
  );
  const result = new Map<string, string[]>(users.map((user) => [user, []]));
  for (const line of group) {
    const [name = '', , gid = '', members = ''] = line.split(':');
    const memberSet = new Set(members.split(','));
    for (const user of users) if (primaryGid.get(user) === gid || memberSet.has(user)) result.get(user)!.push(name);
  }
  return result;
}

export interface Account {
  user: string;
  /** Primary group from the user database. */
  gid: number;
  /** Every group the user is in (primary and supplementary), by name. */
  groups: Map<string, number>;
}

/** The user database's view of `uid`, or undefined when it does not know it. */
export async function accountOf(uid: number): Promise<Account | undefined> {
  const passwd = await cachedPasswd(String(uid));
  if (!passwd) return undefined;
  const [user = '', , , gidText = ''] = passwd.split(':');
  const gid = Number(gidText);
  const groups = new Map<string, number>();
  for (const line of await cachedGroups('all')) {
    const [name = '', , groupGid = '', members = ''] = line.split(':');
    if (Number(groupGid) === gid || members.split(',').includes(user)) groups.set(name, Number(groupGid));
  }
  return { user, gid, groups };
}

/** Whether the user database knows the login `name` (local, LDAP or NIS alike). */
export async function userExists(name: string): Promise<boolean> {
  return (await getent('passwd', name)).some((line) => line.split(':')[0] === name);
}

/** The uid and primary gid of the login `name`, or undefined when the user database does not know it. */
export async function idsOfUser(name: string): Promise<{ uid: number; gid: number } | undefined> {
  const line = (await getent('passwd', name)).find((entry) => entry.split(':')[0] === name);
  if (!line) return undefined;
  const [, , uid = '', gid = ''] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}
