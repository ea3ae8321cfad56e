import { packageVersion } from '../paths.js';
import { startStatusServer } from '../http/start.js';
import { SiteSupervisor } from '../http/site-supervisor.js';
import { Gateway } from '../runtime/gateway.js';
import type { Command } from './commands.js';
import { LOG_HELP, LOG_OPTIONS, loadSiteOrReport, makeLogger, requireString, waitForStopSignal } from './common.js';

export const runCommand: Command = {
  name: 'run',
  summary: 'run the gateway on a site configuration',
  help: `Usage: feederwatch run --config <site.yaml>

Polls the site's devices, tracks feeder energization and outages, and publishes to the MQTT broker and
InfluxDB named in the configuration. Serves the status page, /healthz, /readyz and /metrics on
http://127.0.0.1:8080/ unless the site's http: section says otherwise (docs/status-page.md). Watches the site
file (or reload with SIGHUP): an invalid edit keeps the gateway on the last valid configuration and makes
/readyz answer 503; a valid one restarts the gateway on it. Stops cleanly on SIGINT or SIGTERM.

Options:
  --config <file>       the site configuration (YAML)
${LOG_HELP}  -h, --help            this help

Exit codes: 0 stopped by a signal, 1 failed at run time, 2 invalid configuration.
`,
  options: { config: { type: 'string', short: 'c' }, ...LOG_OPTIONS },
  async run(values, ctx) {
    const file = requireString(values, 'config');
    const result = await loadSiteOrReport(file, ctx);
    if (!result.ok) return result.exitCode;
    const logger = makeLogger(values, ctx, result.site);
    // Listen for signals before starting, so a SIGTERM during start still stops cleanly.
    const stopSignal = waitForStopSignal();
    const http = await startStatusServer(result.site, { logger, version: packageVersion() });
    if (http?.url) ctx.stdout(`feederwatch: status page ${http.url}\n`);
    const supervisor = new SiteSupervisor({ file, env: ctx.env, logger, server: http, create: (site) => new Gateway(site, { logger, version: packageVersion() }) });
    await supervisor.start(result.site);
    const signal = await stopSignal;
    logger.info('stopping', { signal });
    await supervisor.stop();
    await http?.stop();
    return 0;
  },
};
