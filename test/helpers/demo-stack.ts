/**
 * The demo site end to end on real parts: the simulator on free ports, the gateway polling it, publishing to a
 * real Mosquitto and (optionally) a real InfluxDB started by the caller.
 */
import { loadSiteConfig } from '../../gateway/config/load-site.js';
import type { DeviceConfig, SiteConfig } from '../../gateway/config/site-config.js';
import { systemClock } from '../../gateway/clock.js';
import { silentLogger, type Logger } from '../../gateway/log.js';
import { packagePath } from '../../gateway/paths.js';
import { Gateway } from '../../gateway/runtime/gateway.js';
import { StatusServer } from '../../gateway/http/server.js';
import { Simulator, type SimulatorEndpoints } from '../../simulators/simulator.js';

export interface DemoStack {
  site: SiteConfig;
  gateway: Gateway;
  simulator: Simulator;
  controlUrl: string;
  /** With `http`: the status server on 127.0.0.1 and a free port, and its URL (ends with '/'). */
  http?: StatusServer;
  httpUrl?: string;
  stop(): Promise<void>;
}

export interface DemoStackOptions {
  mqttUrl: string;
  /** Keep the demo's simulated feeder automation (default: off, so a test drives protection and repair itself). */
  automation?: boolean;
  /** Keep state (and the reliability history) in this folder. */
  stateDir?: string;
  /** Planned-outage lead time (default: the site's, 7 days). */
  noticeLeadTimeMs?: number;
  /** Accept MQTT commands carrying this token. */
  commandsToken?: string;
  /** Gateway thresholds to override. */
  thresholds?: Partial<SiteConfig['thresholds']>;
  influx?: { host: string; port: number; database: string };
  logger?: Logger;
  /** Start the HTTP status server on 127.0.0.1 and a free port (never the site's 8080); with a token if given. */
  http?: boolean | { token?: string };
}

export async function startDemoStack(opts: DemoStackOptions): Promise<DemoStack> {
  const demo = await loadSiteConfig(packagePath('config/sites/demo.yaml'), {});
  const simulated: SiteConfig = opts.automation === true ? demo : { ...demo, simulator: { ...demo.simulator, automation: undefined } };
  const simulator = new Simulator(simulated, { clock: systemClock, controlPort: 0, portOverride: () => 0 });
  const endpoints = await simulator.start();
  const site: SiteConfig = {
    ...demo,
    devices: withBoundPorts(demo.devices, endpoints),
    mqtt: { url: opts.mqttUrl, protocolVersion: 4, clientId: `feederwatch-test-${process.pid}` },
    influx: opts.influx ? { ...opts.influx, protocol: 'http' } : undefined,
    thresholds: { ...demo.thresholds, ...opts.thresholds },
    commands: opts.commandsToken === undefined ? undefined : { token: opts.commandsToken },
    persistence: opts.stateDir === undefined ? undefined : { stateDir: opts.stateDir },
    notices: { ...demo.notices, leadTimeMs: opts.noticeLeadTimeMs ?? demo.notices.leadTimeMs },
  };
  const gateway = new Gateway(site, { logger: opts.logger ?? silentLogger, version: 'test' });
  let http: StatusServer | undefined;
  let httpUrl: string | undefined;
  if (opts.http !== undefined && opts.http !== false) {
    const token = opts.http === true ? undefined : opts.http.token;
    http = new StatusServer({ http: { enabled: true, host: '127.0.0.1', port: 0, ...(token === undefined ? {} : { token }) }, logger: opts.logger ?? silentLogger, version: 'test', processMetrics: false });
    http.attach(gateway);
    httpUrl = (await http.start()) ?? undefined;
    if (httpUrl === undefined) throw new Error('status server did not start');
  }
  await gateway.start();
  http?.setRunning(true);
  return {
    site,
    gateway,
    simulator,
    controlUrl: endpoints.controlUrl,
    ...(http ? { http, httpUrl } : {}),
    stop: async () => {
      await http?.stop();
      await gateway.stop();
      await simulator.stop();
    },
  };
}

/** The site's devices with their Modbus TCP ports moved to where the simulator actually listens (free ports). */
export function withBoundPorts(devices: readonly DeviceConfig[], endpoints: SimulatorEndpoints): DeviceConfig[] {
  const bound = new Map(endpoints.modbusEndpoints.map((e) => [`${e.host}:${e.port}`, e.boundPort]));
  return devices.map((d) => (d.protocol === 'modbus-tcp' ? { ...d, port: bound.get(`${d.host}:${d.port}`) ?? d.port } : d));
}

export async function control(controlUrl: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(controlUrl + path, {
    method,
    headers: body === undefined ? undefined : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text === '' ? null : JSON.parse(text);
}

export async function influxQuery(url: string, db: string, q: string): Promise<Array<Record<string, unknown>>> {
  const res = await fetch(`${url}/query?db=${encodeURIComponent(db)}&q=${encodeURIComponent(q)}`);
  const body = (await res.json()) as { results: Array<{ series?: Array<{ columns: string[]; values: unknown[][] }>; error?: string }> };
  const result = body.results[0];
  if (result?.error) throw new Error(`InfluxQL error: ${result.error}`);
  const series = result?.series?.[0];
  if (!series) return [];
  return series.values.map((row) => Object.fromEntries(series.columns.map((c, i) => [c, row[i]])));
}

export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not seen within ${timeoutMs} ms${lastError ? `: ${String(lastError)}` : ''}`);
}
