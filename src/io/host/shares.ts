// Users' shares for the scheduler. Names need no lookup; `%group` entries need each user's
// groups, read from the system at most once a minute so a pass never waits on getent.
import type { Config } from '../../core/config/config.js';
import { shareOf } from '../../core/schedule/policy.js';
import { groupsOfUsers } from './users.js';

export interface ShareResolver {
  sharesOf(users: Iterable<string>): Promise<Map<string, number>>;
}

export function createShareResolver(config: Pick<Config, 'shares'>, now: () => number = Date.now, ttlMs = 60_000): ShareResolver {
  const byGroup = Object.keys(config.shares).some((key) => key.startsWith('%'));
  const cache = new Map<string, { groups: string[]; at: number }>();
  return {
    async sharesOf(users) {
      const names = [...new Set(users)];
      if (byGroup) {
        const stale = names.filter((user) => (cache.get(user)?.at ?? -Infinity) < now() - ttlMs);
        if (stale.length > 0) for (const [user, groups] of await groupsOfUsers(stale)) cache.set(user, { groups, at: now() });
      }
      return new Map(names.map((user) => [user, shareOf(user, cache.get(user)?.groups ?? [], config.shares)]));
    },
  };
}
