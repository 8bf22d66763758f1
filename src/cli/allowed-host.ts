// DNS rebinding: a page from anywhere on the web, once its name resolves to 127.0.0.1, may read a
// dashboard on loopback as its own origin; its requests still name that page's host. A dashboard
// on a loopback address therefore answers only a Host that no outside page can have: localhost,
// or an address (an IP is its own origin, never rebound). Pure.
import { isIP } from 'node:net';

/** Whether `host` (the listen address, without brackets or port) is a loopback one. */
export function isLoopback(host: string): boolean {
  const name = host.toLowerCase();
  return name === 'localhost' || name === '::1' || (isIP(name) === 4 && name.startsWith('127.'));
}

/** Whether a request's Host header may be answered by a dashboard on loopback (none: an HTTP/1.0 client, never a browser). */
export function isLocalHostHeader(header: string | undefined): boolean {
  if (header === undefined) return true;
  const bracketed = /^\[([^\]]*)\](?::\d*)?$/.exec(header);
  const name = (bracketed ? bracketed[1]! : header.replace(/:\d*$/, '')).toLowerCase();
  return name === 'localhost' || isIP(name) !== 0;
}
