// For the tests of what the daemon serves over HTTP (/metrics, the web dashboard): a free port,
// and the process serving an address, with its uids, so a test can see it is not root.
import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The process running `dopq <command> --serve <address>`, with its uids (real, effective, saved, fs) and parent. */
export async function servingProcess(command: string, address: string): Promise<{ pid: number; uids: number[]; ppid: number } | undefined> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (!cmdline.includes(command) || !cmdline.includes('--serve') || !cmdline.includes(address)) continue;
    const status = await readFile(`/proc/${entry}/status`, 'utf8');
    const uids = /^Uid:\s+(.*)$/m.exec(status)![1]!.split(/\s+/).map(Number);
    const ppid = Number(/^PPid:\s+(\d+)$/m.exec(status)![1]);
    return { pid: Number(entry), uids, ppid };
  }
  return undefined;
}
