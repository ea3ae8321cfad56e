/**
 * The simulator as one unit: the feeder model, one Modbus TCP server per distinct host:port among the
 * site's devices, the control API and optionally a scenario runner. It prints nothing; the CLI decides
 * what to show, from the endpoints start() returns and from the logger.
 *
 * Start order: Modbus servers, control API, scenario (a scenario must not act before its effects can be
 * observed). Stop in reverse. A start that fails half way stops what it had started and rethrows.
 */
import type { Clock } from '../gateway/clock.js';
import type { SiteConfig } from '../gateway/config/site-config.js';
import { ControlApi } from './control-api.js';
import { DeviceRegisters } from './device-registers.js';
import { FeederModel } from './feeder-model.js';
import { type SimLogger, silentLogger } from './logger.js';
import { ModbusTcpServer, type ModbusUnit } from './modbus-tcp-server.js';
import { realScheduler, type Scenario, ScenarioRunner, type Scheduler } from './scenario.js';

export interface SimulatorOptions {
  clock: Clock;
  logger?: SimLogger;
  /** Overrides `simulator.controlPort` of the site (0: a free port). */
  controlPort?: number;
  /** Maps a configured Modbus endpoint to the port to bind, e.g. `() => 0` in tests for free ports. */
  portOverride?: (host: string, port: number) => number;
  /** Played from start() on. */
  scenario?: Scenario;
  /** Timers for the scenario; Node's timers by default. */
  scheduler?: Scheduler;
}

export interface ModbusEndpoint {
  /** As configured in the site's devices. */
  host: string;
  port: number;
  /** Where the server actually listens. */
  boundPort: number;
}

export interface SimulatorEndpoints {
  controlUrl: string;
  modbusEndpoints: ModbusEndpoint[];
}

interface EndpointGroup {
  host: string;
  port: number;
  units: Map<number, ModbusUnit>;
}

export class Simulator {
  readonly model: FeederModel;
  private readonly site: SiteConfig;
  private readonly opts: SimulatorOptions;
  private readonly logger: SimLogger;
  private readonly groups: EndpointGroup[] = [];
  private servers: Array<{ group: EndpointGroup; server: ModbusTcpServer }> = [];
  private control: ControlApi | undefined;
  private runner: ScenarioRunner | undefined;
  private unsubscribe: (() => void) | undefined;
  private started = false;

  constructor(site: SiteConfig, opts: SimulatorOptions) {
    this.site = site;
    this.opts = opts;
    this.logger = opts.logger ?? silentLogger();
    this.model = new FeederModel(site, { clock: opts.clock });
    const byEndpoint = new Map<string, EndpointGroup>();
    const owner = new Map<string, string>();
    for (const device of site.devices) {
      const key = `${device.host}:${device.port}`;
      let group = byEndpoint.get(key);
      if (group === undefined) {
        group = { host: device.host, port: device.port, units: new Map() };
        byEndpoint.set(key, group);
        this.groups.push(group);
      }
      const taken = owner.get(`${key}/${device.unitId}`);
      if (taken !== undefined) {
        throw new Error(`devices ${taken} and ${device.id} both use unit id ${device.unitId} on ${key}`);
      }
      owner.set(`${key}/${device.unitId}`, device.id);
      group.units.set(device.unitId, new DeviceRegisters(device, this.model));
    }
  }

  async start(): Promise<SimulatorEndpoints> {
    if (this.started) throw new Error('simulator already started');
    this.started = true;
    this.unsubscribe = this.model.onChange((event) => this.logger.info('feeder changed', { ...event }));
    try {
      for (const group of this.groups) {
        const port = this.opts.portOverride?.(group.host, group.port) ?? group.port;
        const server = new ModbusTcpServer({ host: group.host, port, units: group.units, logger: this.logger });
        await server.listen();
        this.servers.push({ group, server });
        this.logger.info('modbus server listening', { host: group.host, port: server.boundPort, units: group.units.size });
      }
      const { controlHost } = this.site.simulator;
      const control = new ControlApi(this.model, {
        host: controlHost,
        port: this.opts.controlPort ?? this.site.simulator.controlPort,
        logger: this.logger,
      });
      this.control = control;
      const controlPort = await control.listen();
      this.logger.info('control API listening', { host: controlHost, port: controlPort });
      if (this.opts.scenario !== undefined) {
        this.runner = new ScenarioRunner(this.opts.scenario, this.model, {
          clock: this.opts.clock,
          scheduler: this.opts.scheduler ?? realScheduler(),
          logger: this.logger,
        });
        this.runner.start();
      }
      return {
        controlUrl: `http://${controlHost.includes(':') ? `[${controlHost}]` : controlHost}:${controlPort}`,
        modbusEndpoints: this.servers.map(({ group, server }) => ({
          host: group.host,
          port: group.port,
          boundPort: server.boundPort,
        })),
      };
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    this.runner?.stop();
    this.runner = undefined;
    await this.control?.close();
    this.control = undefined;
    await Promise.all(this.servers.map(({ server }) => server.close()));
    this.servers = [];
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.started = false;
  }
}
