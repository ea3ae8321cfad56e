import mqtt from 'mqtt';
import { systemClock } from '../clock.js';
import type { SiteConfig } from '../config/site-config.js';
import type { Logger } from '../log.js';
import { packagePath, packageVersion } from '../paths.js';
import { startEmbeddedBroker } from '../runtime/embedded-broker.js';
import { startStatusServer } from '../http/start.js';
import { Gateway } from '../runtime/gateway.js';
import { loadScenario, ScenarioError, type Scenario } from '../../simulators/scenario.js';
import { Simulator } from '../../simulators/simulator.js';
import type { Command } from './commands.js';
import { LOG_HELP, LOG_OPTIONS, loadSiteOrReport, makeLogger, optionalPort, waitForStopSignal } from './common.js';
import { UsageError } from './usage-error.js';

const DEFAULT_SITE = 'config/sites/demo.yaml';
const DEFAULT_SCENARIO = 'config/scenarios/demo-fault.yaml';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'simulators + gateway + embedded MQTT broker in one process, with a scripted fault',
  help: `Usage: feederwatch demo [--site <site.yaml>] [--scenario <file> | --no-scenario] [--mqtt-port <port>] [--control-port <port>] [--http-port <port>]

Runs the site's simulated devices, the gateway polling them, and an embedded MQTT broker (Aedes), all bound to
127.0.0.1. With the demo site (default) a scripted fault and restoration play on a loop, the first fault 15 s
after start; the log says what the gateway detected and what a subscriber receives. Watch the topics with
  mosquitto_sub -h 127.0.0.1 -p 1883 -v -t 'feederwatch/v1/#'
and change the grid through the simulator's control API (docs/simulator.md), e.g.
  curl -X POST 127.0.0.1:8081/faults -d '{"section":"F2-S2"}'
InfluxDB is written when the site configures it and it is reachable; otherwise the demo says so and goes on.

Options:
  --site <file>           site configuration (default: ${DEFAULT_SITE})
  --scenario <file>       scenario to play (default for the demo site: ${DEFAULT_SCENARIO})
  --no-scenario           play nothing: the grid changes only through the control API
  --mqtt-port <port>      port of the embedded broker (default 1883)
  --control-port <port>   port of the simulator control API (default: the site's, 8081)
  --http-port <port>      port of the status page (default: the site's http.port, 8080; 0 = any free port)
${LOG_HELP}  -h, --help              this help

Exit codes: 0 stopped by a signal, 1 failed at run time (e.g. a port in use), 2 invalid configuration or scenario.
`,
  options: {
    site: { type: 'string' },
    scenario: { type: 'string' },
    'no-scenario': { type: 'boolean' },
    'mqtt-port': { type: 'string' },
    'control-port': { type: 'string' },
    'http-port': { type: 'string' },
    ...LOG_OPTIONS,
  },
  async run(values, ctx) {
    if (values.scenario !== undefined && values['no-scenario'] === true) throw new UsageError('--scenario and --no-scenario exclude each other');
    const mqttPort = optionalPort(values, 'mqtt-port') ?? 1883;
    const controlPort = optionalPort(values, 'control-port');
    const httpPort = optionalPort(values, 'http-port');
    const siteFile = typeof values.site === 'string' ? values.site : packagePath(DEFAULT_SITE);
    const result = await loadSiteOrReport(siteFile, ctx);
    if (!result.ok) return result.exitCode;
    const logger = makeLogger(values, ctx, result.site);

    let scenario: Scenario | undefined;
    const scenarioFile = values['no-scenario'] === true ? undefined : typeof values.scenario === 'string' ? values.scenario : values.site === undefined ? packagePath(DEFAULT_SCENARIO) : undefined;
    if (scenarioFile !== undefined) {
      try {
        scenario = await loadScenario(scenarioFile, result.site);
      } catch (err) {
        if (err instanceof ScenarioError) {
          ctx.stderr(`${err.message}\n`);
          return 2;
        }
        throw err;
      }
    }

    const broker = await startEmbeddedBroker('127.0.0.1', mqttPort);
    const site: SiteConfig = { ...result.site, mqtt: { ...(result.site.mqtt ?? { protocolVersion: 4 }), url: broker.url, tls: undefined } };
    const simulator = new Simulator(site, { clock: systemClock, logger: logger.child({ module: 'simulator' }), controlPort, scenario });
    const gateway = new Gateway(site, { logger, version: packageVersion() });
    let watcher: mqtt.MqttClient | undefined;
    const stopSignal = waitForStopSignal();
    const http = await startStatusServer(site, { logger, version: packageVersion(), port: httpPort });
    http?.attach(gateway);
    try {
      const endpoints = await simulator.start();
      await gateway.start();
      http?.setRunning(true);
      watcher = watchOutages(broker.url, `feederwatch/v1/${site.siteId}`, logger.child({ module: 'subscriber' }));
      ctx.stdout(
        [
          `feederwatch demo: site ${site.siteId} (${site.feeders.length} feeders, ${site.devices.length} devices)`,
          `  MQTT broker        ${broker.url}   (topics under ${`feederwatch/v1/${site.siteId}`}/#)`,
          `  simulator control  ${endpoints.controlUrl}`,
          ...endpoints.modbusEndpoints.map((e) => `  Modbus TCP         ${e.host}:${e.boundPort}`),
          ...endpoints.opcuaServers.map((o) => `  OPC UA             ${o.endpointUrl}`),
          ...endpoints.rtuBuses.map((b) => (b.type === 'serial' ? `  Modbus RTU         bus ${b.busId} on ${b.path}` : `  Modbus RTU/TCP     bus ${b.busId} on ${b.host}:${b.boundPort}`)),
          http?.url ? `  status page        ${http.url}` : '  status page        not running (see the log)',
          scenario ? `  scenario           "${scenario.name}"${scenario.loop ? ' (looping)' : ''}` : '  scenario           none: change the grid through the control API',
          site.influx ? `  InfluxDB           ${site.influx.protocol}://${site.influx.host}:${site.influx.port}/${site.influx.database}` : '  InfluxDB           not configured: telemetry and outages are not stored (add an influx: section to the site)',
          'Press Ctrl-C to stop.',
          '',
        ].join('\n'),
      );
      const signal = await stopSignal;
      logger.info('stopping', { signal });
    } finally {
      await watcher?.endAsync().catch(() => undefined);
      http?.setRunning(false);
      await gateway.stop();
      await http?.stop();
      await simulator.stop();
      await broker.stop();
    }
    return 0;
  },
};

/** A subscriber like a downstream system's, so the demo shows what actually crosses the broker. */
function watchOutages(url: string, root: string, log: Logger): mqtt.MqttClient {
  const client = mqtt.connect(url, { clientId: `feederwatch-demo-watcher-${process.pid}` });
  client.on('connect', () => void client.subscribeAsync(`${root}/outages/+`, { qos: 1 }).catch(() => undefined));
  client.on('message', (topic, payload) => {
    if (payload.length === 0) {
      log.info('received: retained outage cleared', { topic });
      return;
    }
    try {
      const outage = JSON.parse(payload.toString()) as { state: string; currentCustomerCount: number; customerCount: number; durationMs: number | null; customers: string[] };
      log.info(`received: outage ${outage.state}`, {
        topic,
        customersOut: outage.currentCustomerCount,
        customersAffected: outage.customerCount,
        durationS: outage.durationMs === null ? undefined : outage.durationMs / 1000,
      });
    } catch {
      log.warn('received a payload that is not JSON', { topic });
    }
  });
  return client;
}
