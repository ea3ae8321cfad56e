import { systemClock } from '../clock.js';
import { loadScenario, ScenarioError } from '../../simulators/scenario.js';
import { Simulator } from '../../simulators/simulator.js';
import type { Command } from './commands.js';
import { LOG_HELP, LOG_OPTIONS, loadSiteOrReport, makeLogger, optionalPort, requireString, waitForStopSignal } from './common.js';

export const simulateCommand: Command = {
  name: 'simulate',
  summary: 'serve a site\'s devices from a simulated feeder (Modbus TCP + control API)',
  help: `Usage: feederwatch simulate --config <site.yaml> [--scenario <file>] [--control-port <port>]

Serves every device of the site over Modbus TCP on the host and port given in the configuration, from a
simulated feeder with protection (a fault trips the nearest upstream breaker or recloser). The control API
(default 127.0.0.1:8081, from simulator.controlHost/controlPort) injects faults, operates switches and cuts
meter links; see docs/simulator.md. A scenario file plays timed steps of the same actions.

Options:
  --config <file>         the site configuration (YAML)
  --scenario <file>       a scenario to play (YAML; see config/scenarios/)
  --control-port <port>   overrides simulator.controlPort
${LOG_HELP}  -h, --help              this help

Exit codes: 0 stopped by a signal, 1 failed at run time, 2 invalid configuration or scenario.
`,
  options: { config: { type: 'string', short: 'c' }, scenario: { type: 'string' }, 'control-port': { type: 'string' }, ...LOG_OPTIONS },
  async run(values, ctx) {
    const file = requireString(values, 'config');
    const controlPort = optionalPort(values, 'control-port');
    const result = await loadSiteOrReport(file, ctx);
    if (!result.ok) return result.exitCode;
    const site = result.site;
    const logger = makeLogger(values, ctx, site).child({ module: 'simulator' });
    let scenario;
    if (typeof values.scenario === 'string') {
      try {
        scenario = await loadScenario(values.scenario, site);
      } catch (err) {
        if (err instanceof ScenarioError) {
          ctx.stderr(`${err.message}\n`);
          return 2;
        }
        throw err;
      }
    }
    const simulator = new Simulator(site, { clock: systemClock, logger, controlPort, scenario });
    const endpoints = await simulator.start();
    ctx.stdout(`simulator for site ${site.siteId}: control API on ${endpoints.controlUrl}\n`);
    for (const e of endpoints.modbusEndpoints) ctx.stdout(`  Modbus TCP on ${e.host}:${e.boundPort}\n`);
    for (const b of endpoints.rtuBuses) {
      ctx.stdout(b.type === 'serial' ? `  Modbus RTU bus ${b.busId} on pseudo-terminal ${b.path}\n` : `  Modbus RTU bus ${b.busId} over TCP on ${b.host}:${b.boundPort}\n`);
    }
    for (const o of endpoints.opcuaServers) ctx.stdout(`  OPC UA FTU server on ${o.endpointUrl} (certificate ${o.certificateFile})\n`);
    if (scenario) ctx.stdout(`  playing scenario "${scenario.name}"${scenario.loop ? ' (looping)' : ''}\n`);
    const signal = await waitForStopSignal();
    logger.info('stopping', { signal });
    await simulator.stop();
    return 0;
  },
};
