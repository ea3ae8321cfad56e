/** What several commands share: loading a site config (exit 2 when invalid), logging, waiting for a signal. */
import { formatIssue, loadSiteConfig, SiteConfigError, siteSecrets } from '../config/load-site.js';
import type { SiteConfig } from '../config/site-config.js';
import { createLogger, type Logger, type LogLevel } from '../log.js';
import type { CommandContext, OptionSpec } from './commands.js';
import { UsageError } from './usage-error.js';

export const LOG_OPTIONS: Record<string, OptionSpec> = {
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
};

export const LOG_HELP = `  --log-level <level>   debug, info, warn, error (default info; env FEEDERWATCH_LOG_LEVEL)
  --log-format <fmt>    pretty or json (default: pretty on a terminal, json otherwise)
`;

export type LoadResult = { ok: true; site: SiteConfig } | { ok: false; exitCode: number };

/** Loads and validates a site config; on failure prints every issue and returns exit code 2. */
export async function loadSiteOrReport(file: string, ctx: CommandContext): Promise<LoadResult> {
  try {
    return { ok: true, site: await loadSiteConfig(file, ctx.env) };
  } catch (err) {
    if (err instanceof SiteConfigError) {
      ctx.stderr(`${file}: invalid site configuration (${err.issues.length} issue${err.issues.length === 1 ? '' : 's'}):\n`);
      for (const issue of err.issues) ctx.stderr(`  ${formatIssue(issue)}\n`);
      return { ok: false, exitCode: 2 };
    }
    throw err;
  }
}

export function requireString(values: Record<string, string | boolean | undefined>, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} <file> is required`);
  return value;
}

export function optionalPort(values: Record<string, string | boolean | undefined>, name: string): number | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  const port = Number(value);
  if (typeof value !== 'string' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--${name} must be a port number 0-65535 (got ${JSON.stringify(value)})`);
  }
  return port;
}

export function makeLogger(values: Record<string, string | boolean | undefined>, ctx: CommandContext, site?: SiteConfig): Logger {
  const level = (values['log-level'] ?? ctx.env.FEEDERWATCH_LOG_LEVEL ?? 'info') as string;
  if (!['debug', 'info', 'warn', 'error', 'silent'].includes(level)) throw new UsageError(`--log-level must be debug, info, warn or error (got "${level}")`);
  const format = values['log-format'];
  if (format !== undefined && format !== 'pretty' && format !== 'json') throw new UsageError(`--log-format must be pretty or json (got "${String(format)}")`);
  const secrets = site === undefined ? [] : [...siteSecrets(site), site.mqtt?.password, site.influx?.password, site.http?.token].filter((s): s is string => typeof s === 'string');
  return createLogger({ level: level as LogLevel, format: format as 'pretty' | 'json' | undefined, secrets });
}

/** Resolves on SIGINT or SIGTERM (the first one); a second signal exits at once. */
export function waitForStopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const onSignal = (signal: string): void => {
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(143));
      resolve(signal);
    };
    process.once('SIGINT', () => onSignal('SIGINT'));
    process.once('SIGTERM', () => onSignal('SIGTERM'));
  });
}
