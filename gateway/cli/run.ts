import { packageVersion } from '../paths.js';
import { Gateway } from '../runtime/gateway.js';
import type { Command } from './commands.js';
import { LOG_HELP, LOG_OPTIONS, loadSiteOrReport, makeLogger, requireString, waitForStopSignal } from './common.js';

export const runCommand: Command = {
  name: 'run',
  summary: 'run the gateway on a site configuration',
  help: `Usage: feederwatch run --config <site.yaml>

Polls the site's devices, tracks feeder energization and outages, and publishes to the MQTT broker and
InfluxDB named in the configuration. Stops cleanly on SIGINT or SIGTERM.

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
    const gateway = new Gateway(result.site, { logger, version: packageVersion() });
    // Listen for signals before starting, so a SIGTERM during start still stops cleanly.
    const stopSignal = waitForStopSignal();
    await gateway.start();
    const signal = await stopSignal;
    logger.info('stopping', { signal });
    await gateway.stop();
    return 0;
  },
};
