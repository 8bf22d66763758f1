// `dopq web`: the read-only web dashboard (server in ../web/), in the foreground as whoever runs
// it, or `--serve` as the daemon's child when web.listen is set. Never as root: a browser's
// requests are the least trusted input dopq reads.
import { DopqError, ExitCode } from '../../core/errors.js';
import type { CommandContext } from '../context.js';
import { requireSpool } from './q.js';

export interface WebOptions {
  /** `host:port` to serve on (default: web.listen, else 127.0.0.1:8080). */
  listen?: string;
  /** The daemon's child: the same, at the address the daemon gives. */
  serve?: string;
}

export const WEB_DEFAULT_LISTEN = '127.0.0.1:8080';

export async function webCommand(ctx: CommandContext, options: WebOptions): Promise<number> {
  await requireSpool(ctx);
  const configured = ctx.config.web.listen;
  const listen =
    options.serve ??
    options.listen ??
    (configured ? `${configured.host.includes(':') ? `[${configured.host}]` : configured.host}:${configured.port}` : WEB_DEFAULT_LISTEN);
  if (process.getuid?.() === 0)
    throw new DopqError('web-root', ExitCode.noPermission, 'refusing to serve the web dashboard as root', listen, {
      hint: 'run it as an unprivileged user, or set web.listen and let the daemon start it',
    });
  const { serveWeb } = await import('../web/server.js');
  return serveWeb(ctx, listen);
}
