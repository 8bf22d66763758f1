// An interactive job's socket in the spool's sessions/ folder (root's, 0711): `<id>.sock`, owned
// by the job's owner with mode 0600, so only they (and root) can connect. Bound under a temp name
// that nobody else can connect to, given its owner and mode, then renamed into place.
import { chmod, chown, readdir, rename, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { randomHex } from '../files/random-hex.js';

export const SESSION_SUFFIX = '.sock';

/** Connections a session socket holds at once; the kernel's backlog keeps the rest waiting briefly, then Node closes them. */
const MAX_CONNECTIONS = 4;

export function sessionSocketPath(sessions: string, jobId: number): string {
  return path.join(sessions, `${jobId}${SESSION_SUFFIX}`);
}

export interface SessionSocket {
  path: string;
  /** Stop listening and remove the socket; connections already made are the caller's to end. */
  close(): Promise<void>;
}

export async function listenOnSessionSocket(
  sessions: string,
  jobId: number,
  uid: number,
  onConnection: (socket: Socket) => void,
): Promise<SessionSocket> {
  const target = sessionSocketPath(sessions, jobId);
  const temp = path.join(sessions, `.${jobId}-${await randomHex(6)}${SESSION_SUFFIX}`);
  const server: Server = createServer({ allowHalfOpen: false, pauseOnConnect: false }, onConnection);
  server.on('error', () => undefined); // an accept that failed; the server goes on
  // One terminal at a time, each new one taking over (sessions.ts): a few at once is plenty, and
  // the owner cannot open thousands to run the daemon out of descriptors.
  server.maxConnections = MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(temp, () => {
      server.off('error', reject);
      resolve();
    });
  });
  try {
    // chmod first: between bind and here the umask's mode (no write for others) already kept others out.
    await chmod(temp, 0o600);
    await chown(temp, uid, 0);
    await rename(temp, target); // over a stale one a killed daemon left
  } catch (error) {
    server.close();
    await rm(temp, { force: true });
    throw error;
  }
  return {
    path: target,
    async close() {
      server.close(); // its callback would wait for the connections, which the caller ends
      await rm(target, { force: true });
    },
  };
}

/** Sockets a daemon that was killed left behind: nobody listens on them any more. */
export async function removeStaleSessionSockets(sessions: string): Promise<void> {
  const names = await readdir(sessions).catch(() => [] as string[]);
  await Promise.all(names.filter((name) => name.endsWith(SESSION_SUFFIX)).map((name) => rm(path.join(sessions, name), { force: true })));
}
