/** What `feederwatch run` and `feederwatch demo` share: the HTTP server from the site's `http:` settings. */
import type { SiteConfig } from '../config/site-config.js';
import type { Logger } from '../log.js';
import { DEFAULT_HTTP, StatusServer } from './server.js';

/**
 * Starts the status server unless the site disables it. Null when disabled or when it could not listen
 * (a port in use is logged; the gateway runs on without it).
 */
export async function startStatusServer(site: SiteConfig, opts: { logger: Logger; version: string; port?: number }): Promise<StatusServer | null> {
  const http = { ...(site.http ?? DEFAULT_HTTP), ...(opts.port === undefined ? {} : { port: opts.port }) };
  if (!http.enabled) {
    opts.logger.info('status page disabled (http.enabled: false)');
    return null;
  }
  const server = new StatusServer({ http, logger: opts.logger, version: opts.version });
  return (await server.start()) === null ? null : server;
}
