// Notification channels at the edge: a webhook POST (destinations checked), e-mail (sendmail or SMTP), a command as the owner.
import { spawn } from 'node:child_process';
import { lookup } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { LookupFunction } from 'node:net';
import { createRequire } from 'node:module';
import type * as Nodemailer from 'nodemailer';
import { commandEnv, emailMessage, webhookBody, type NotifyConfig } from '../../core/notify/notify-spec.js';
import type { JobEvent } from '../../core/job/job-events.js';

/**
 * Private, loopback, link-local and other non-public ranges: reachable only when `notify.webhook_allow`
 * lists them. One list per family: Node's BlockList matches every IPv4 address against an IPv6
 * rule for ::ffff:0:0/96, so in one list that rule would refuse all of IPv4.
 */
const NON_PUBLIC = { ipv4: new net.BlockList(), ipv6: new net.BlockList() };
for (const [address, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['224.0.0.0', 3],
] as const)
  NON_PUBLIC.ipv4.addSubnet(address, prefix, 'ipv4');
for (const [address, prefix] of [
  ['::', 96], // unspecified, loopback, and IPv4-compatible ::a.b.c.d
  ['::ffff:0:0', 96], // IPv4-mapped
  ['64:ff9b::', 96], // NAT64: a gateway would carry it to the IPv4 address inside
  ['64:ff9b:1::', 48], // local-use NAT64
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  NON_PUBLIC.ipv6.addSubnet(address, prefix, 'ipv6');

export function allowList(entries: readonly string[]): net.BlockList {
  const list = new net.BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/');
    const family = net.isIPv6(address) ? 'ipv6' : 'ipv4';
    if (!net.isIP(address)) continue;
    if (prefix === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(prefix), family);
  }
  return list;
}

/** Whether the daemon may connect to this address for a user's webhook. */
export function webhookAddressAllowed(address: string, allow: net.BlockList): boolean {
  const family = net.isIPv6(address) ? 'ipv6' : 'ipv4';
  return !NON_PUBLIC[family].check(address, family) || allow.check(address, family);
}

/** A lookup that refuses non-public addresses at connect time, so a name that resolves twice cannot slip past. */
function checkedLookup(allow: net.BlockList): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const refused = addresses.find((entry) => !webhookAddressAllowed(entry.address, allow));
      if (refused) {
        const denied = Object.assign(new Error(`${hostname} is ${refused.address}, not allowed for webhooks (notify.webhook_allow)`), {
          code: 'EDESTDENIED',
        });
        return callback(denied, '', 0);
      }
      if (options.all) return (callback as unknown as (e: null, a: typeof addresses) => void)(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

/** POST the event as JSON; no redirects followed (a redirect could point inside). Throws on failure or a non-2xx status. */
export function postWebhook(url: string, event: JobEvent, config: NotifyConfig): Promise<void> {
  const body = webhookBody(event);
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(
      target,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'dopq' },
        lookup: checkedLookup(allowList(config.webhook_allow)),
        timeout: config.timeout * 1000,
      },
      (response) => {
        response.resume();
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve();
          else reject(new Error(`the webhook answered HTTP ${status}`));
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    // An address literal skips the lookup: it is checked here.
    const literal = target.hostname.replace(/^\[|\]$/g, '');
    if (net.isIP(literal) && !webhookAddressAllowed(literal, allowList(config.webhook_allow))) {
      request.destroy(new Error(`${literal} is not allowed for webhooks (notify.webhook_allow)`));
      return;
    }
    // The whole exchange, not only each pause: a server that drips an endless answer is cut off too.
    const deadline = setTimeout(() => request.destroy(new Error(`the webhook took more than ${config.timeout}s`)), config.timeout * 1000);
    request.on('close', () => clearTimeout(deadline));
    request.end(body);
  });
}

/** Who a command or sendmail runs as: the job's owner. */
export interface Owner {
  uid: number;
  gid: number;
  home: string;
}

/** Run a program with no shell, as `owner`, the event JSON on stdin; killed after the timeout. Throws unless it exits 0. */
export function runAsOwner(
  argv: readonly string[],
  stdin: string,
  env: Record<string, string>,
  owner: Owner,
  timeout: number,
): Promise<void> {
  if (owner.uid === 0) return Promise.reject(new Error('notifications never run a program as root'));
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      uid: owner.uid,
      gid: owner.gid,
      cwd: '/',
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: owner.home, ...env },
      stdio: ['pipe', 'ignore', 'ignore'],
      timeout: timeout * 1000,
      killSignal: 'SIGKILL',
    });
    child.on('error', reject);
    child.stdin.on('error', () => {}); // a program that does not read its stdin
    child.stdin.end(stdin);
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(signal ? `${argv[0]} was killed (${signal}; notify.timeout is ${timeout}s)` : `${argv[0]} exited ${code}`));
    });
  });
}

export function runCommand(argv: readonly string[], event: JobEvent, owner: Owner, config: NotifyConfig): Promise<void> {
  return runAsOwner(argv, webhookBody(event), commandEnv(event), owner, config.timeout);
}

/** Mail the event: through `notify.smtp` when set (nodemailer), else the host's sendmail run as the owner. */
export async function sendEmail(to: string, event: JobEvent, owner: Owner, config: NotifyConfig): Promise<void> {
  const { subject, text } = emailMessage(event);
  if (config.smtp !== null) {
    // Required on first use from node_modules (the CLI bundle leaves it out: scripts/bundle.mjs).
    const { createTransport } = createRequire(import.meta.url)('nodemailer') as typeof Nodemailer;
    const ms = config.timeout * 1000;
    const transport = createTransport({ url: config.smtp, connectionTimeout: ms, greetingTimeout: ms, socketTimeout: ms } as never);
    let deadline: NodeJS.Timeout | undefined;
    try {
      // Nodemailer's timeouts are per pause; this bounds the whole exchange.
      await Promise.race([
        transport.sendMail({ from: config.from, to, subject, text }),
        new Promise((_resolve, reject) => {
          deadline = setTimeout(() => reject(new Error(`the SMTP server took more than ${config.timeout}s`)), ms);
        }),
      ]);
    } finally {
      clearTimeout(deadline);
      transport.close();
    }
    return;
  }
  // Headers are ours; the subject holds only the job's id, name (a checked name) and state.
  const message = `From: ${config.from}\nTo: ${to}\nSubject: ${subject}\nContent-Type: text/plain; charset=utf-8\n\n${text}`;
  await runAsOwner([config.sendmail, '-i', '--', to], message, {}, owner, config.timeout);
}
