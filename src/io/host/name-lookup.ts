// Which of some user and group names the system databases know (getent, so LDAP/NIS count).
import { execFile } from 'node:child_process';

/** The names getent finds in `db`; one call for all of them. */
async function found(db: 'passwd' | 'group', names: readonly string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile('getent', [db, ...names], { timeout: 10_000 }, (error, out) => {
      // Exit 2: some key was not found; what was found is still printed.
      if (error && (error as { code?: unknown }).code !== 2) reject(error);
      else resolve(out);
    });
  });
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(':')[0] ?? '');
}

export async function knownNames(users: readonly string[], groups: readonly string[]): Promise<{ users: string[]; groups: string[] }> {
  const [u, g] = await Promise.all([found('passwd', users), found('group', groups)]);
  return { users: u, groups: g };
}

/** The members getent lists for each group (its supplementary members; not users whose primary group it is). */
export async function groupMembers(groups: readonly string[]): Promise<Map<string, string[]>> {
  const members = new Map<string, string[]>();
  if (groups.length === 0) return members;
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile('getent', ['group', ...groups], { timeout: 10_000 }, (error, out) => {
      if (error && (error as { code?: unknown }).code !== 2) reject(error);
      else resolve(out);
    });
  });
  for (const line of stdout.split('\n').filter(Boolean)) {
    const [name = '', , , list = ''] = line.split(':');
    members.set(name, list.split(',').filter(Boolean));
  }
  return members;
}
