/**
 * The simulator as one unit: the feeder model, one Modbus TCP server per distinct host:port among the
 * site's devices, one Modbus RTU server per bus of `site.buses`, the control API (with per-device fault
 * modes) and optionally a scenario runner. It prints nothing; the CLI decides what to show, from the
 * endpoints start() returns and from the logger.
 *
 * RTU buses. A `serial` bus gets a socat pty pair: the gateway end is a symlink at the bus's `path` (its
 * folder is created), the simulator serves the devices on the other end, `<path>.sim`. An `rtu-over-tcp`
 * bus is served as a serial device server on its host:port (`portOverride` applies, as for Modbus TCP).
 *
 * Start order: Modbus TCP servers, RTU buses, control API, scenario (a scenario must not act before its
 * effects can be observed). Stop in reverse. A start that fails half way stops what it had started and
 * rethrows.
 */
import type { Clock } from '../gateway/clock.js';
import type { BusConfig, ModbusRtuDeviceConfig, OpcUaDeviceConfig, SiteConfig } from '../gateway/config/site-config.js';
import { FeederAutomation } from './automation/feeder-automation.js';
import { ControlApi } from './control-api.js';
import { type DeviceFaultEntry, DeviceFaults } from './device-faults.js';
import { DeviceRegisters } from './device-registers.js';
import { FeederModel } from './feeder-model.js';
import { type SimLogger, silentLogger } from './logger.js';
import { ModbusRtuServer } from './modbus-rtu-server.js';
import { ModbusTcpServer, type ModbusUnit } from './modbus-tcp-server.js';
import type { OpcUaFtuServer } from './opcua-server.js';
import { PtyPair } from './pty-pair.js';
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
  /** Timers for the scenario and the feeder automation; Node's timers by default. */
  scheduler?: Scheduler;
  /** Turnaround of the simulated RTU devices after t3.5, in ms (default 1). */
  rtuTurnaroundMs?: number;
}

export interface ModbusEndpoint {
  /** As configured in the site's devices. */
  host: string;
  port: number;
  /** Where the server actually listens. */
  boundPort: number;
}

/** Where an RTU bus is served. */
export type RtuBusEndpoint =
  | {
      busId: string;
      type: 'serial';
      /** The gateway's end of the pty pair: the bus's configured `path` (a symlink to /dev/pts/N). */
      path: string;
      /** The simulator's end. */
      simPath: string;
    }
  | {
      busId: string;
      type: 'rtu-over-tcp';
      host: string;
      port: number;
      boundPort: number;
    };

export interface SimulatorEndpoints {
  controlUrl: string;
  modbusEndpoints: ModbusEndpoint[];
  rtuBuses: RtuBusEndpoint[];
  /** OPC UA FTU servers (one per endpoint of the site's switch-bound OPC UA devices). */
  opcuaServers: Array<{ endpointUrl: string; certificateFile: string; deviceIds: readonly string[] }>;
}

interface EndpointGroup {
  host: string;
  port: number;
  units: Map<number, ModbusUnit>;
  deviceByUnit: Map<number, string>;
}

interface BusGroup {
  bus: BusConfig;
  units: Map<number, ModbusUnit>;
  deviceByUnit: Map<number, string>;
}

/** The simulator's end of a serial bus's pty pair. */
export function simulatorPtyPath(busPath: string): string {
  return `${busPath}.sim`;
}

export class Simulator {
  readonly model: FeederModel;
  /** Communication faults per device (control API `/devices`). */
  readonly faults: DeviceFaults;
  private readonly site: SiteConfig;
  private readonly opts: SimulatorOptions;
  private readonly logger: SimLogger;
  private readonly groups: EndpointGroup[] = [];
  private readonly busGroups: BusGroup[] = [];
  private servers: Array<{ group: EndpointGroup; server: ModbusTcpServer }> = [];
  private rtuServers: Array<{ group: BusGroup; server: ModbusRtuServer; endpoint: RtuBusEndpoint }> = [];
  private ptys: PtyPair[] = [];
  private opcuaServers: OpcUaFtuServer[] = [];
  private control: ControlApi | undefined;
  private runner: ScenarioRunner | undefined;
  private fa: FeederAutomation | undefined;
  private unsubscribe: (() => void) | undefined;
  private started = false;

  constructor(site: SiteConfig, opts: SimulatorOptions) {
    this.site = site;
    this.opts = opts;
    this.logger = opts.logger ?? silentLogger();
    this.model = new FeederModel(site, { clock: opts.clock });
    const byEndpoint = new Map<string, EndpointGroup>();
    const faultEntries: Array<Omit<DeviceFaultEntry, 'fault'>> = [];
    const rtuDevices: ModbusRtuDeviceConfig[] = [];
    for (const device of site.devices) {
      // OPC UA devices are served by their own server.
      if (device.protocol === 'modbus-rtu') rtuDevices.push(device);
      if (device.protocol !== 'modbus-tcp') continue;
      const key = `${device.host}:${device.port}`;
      let group = byEndpoint.get(key);
      if (group === undefined) {
        group = { host: device.host, port: device.port, units: new Map(), deviceByUnit: new Map() };
        byEndpoint.set(key, group);
        this.groups.push(group);
      }
      const taken = group.deviceByUnit.get(device.unitId);
      if (taken !== undefined) {
        throw new Error(`devices ${taken} and ${device.id} both use unit id ${device.unitId} on ${key}`);
      }
      group.deviceByUnit.set(device.unitId, device.id);
      group.units.set(device.unitId, new DeviceRegisters(device, this.model, { site, clock: this.opts.clock }));
      faultEntries.push({ id: device.id, protocol: device.protocol, link: 'tcp', unitId: device.unitId, endpoint: key });
    }
    const byBus = new Map<string, BusGroup>();
    for (const bus of site.buses ?? []) {
      const group: BusGroup = { bus, units: new Map(), deviceByUnit: new Map() };
      byBus.set(bus.id, group);
      this.busGroups.push(group);
    }
    for (const device of rtuDevices) {
      const group = byBus.get(device.bus);
      if (group === undefined) throw new Error(`device ${device.id} is on bus ${device.bus}, which is not in the site's buses`);
      const taken = group.deviceByUnit.get(device.unitId);
      if (taken !== undefined) {
        throw new Error(`devices ${taken} and ${device.id} both use unit id ${device.unitId} on bus ${device.bus}`);
      }
      group.deviceByUnit.set(device.unitId, device.id);
      group.units.set(device.unitId, new DeviceRegisters(device, this.model, { site, clock: this.opts.clock }));
      const { bus } = group;
      faultEntries.push({
        id: device.id,
        protocol: device.protocol,
        link: bus.type === 'serial' ? 'rtu-serial' : 'rtu-over-tcp',
        unitId: device.unitId,
        endpoint: bus.type === 'serial' ? bus.path : `${bus.host}:${bus.port}`,
        bus: bus.id,
      });
    }
    this.faults = new DeviceFaults(faultEntries);
  }

  /** The fault lookup for the servers: unit id -> the fault of the device at that unit id. */
  private faultLookup(deviceByUnit: ReadonlyMap<number, string>): (unitId: number) => ReturnType<DeviceFaults['faultOf']> | undefined {
    return (unitId) => {
      const deviceId = deviceByUnit.get(unitId);
      return deviceId === undefined ? undefined : this.faults.faultOf(deviceId);
    };
  }

  private async startBus(group: BusGroup): Promise<void> {
    const { bus } = group;
    const server = new ModbusRtuServer({
      bus,
      units: group.units,
      faultOf: this.faultLookup(group.deviceByUnit),
      logger: this.logger,
      ...(this.opts.rtuTurnaroundMs !== undefined ? { turnaroundMs: this.opts.rtuTurnaroundMs } : {}),
    });
    if (bus.type === 'serial') {
      const simPath = simulatorPtyPath(bus.path);
      const pty = await PtyPair.open({ a: bus.path, b: simPath, logger: this.logger });
      this.ptys.push(pty);
      const endpoint: RtuBusEndpoint = { busId: bus.id, type: 'serial', path: bus.path, simPath };
      this.rtuServers.push({ group, server, endpoint });
      await server.serveSerial(simPath);
      this.logger.info('modbus rtu bus served on a pty pair', { bus: bus.id, path: bus.path, simPath, baudRate: bus.baudRate, units: group.units.size });
    } else {
      const port = this.opts.portOverride?.(bus.host, bus.port) ?? bus.port;
      const endpoint: RtuBusEndpoint = { busId: bus.id, type: 'rtu-over-tcp', host: bus.host, port: bus.port, boundPort: 0 };
      this.rtuServers.push({ group, server, endpoint });
      endpoint.boundPort = await server.listen(bus.host, port);
      this.logger.info('modbus rtu-over-tcp bus listening', { bus: bus.id, host: bus.host, port: endpoint.boundPort, baudRate: bus.baudRate, units: group.units.size });
    }
  }

  async start(): Promise<SimulatorEndpoints> {
    if (this.started) throw new Error('simulator already started');
    this.started = true;
    this.unsubscribe = this.model.onChange((event) => this.logger.info('feeder changed', { ...event }));
    // Protection, reclosing and feeder automation (site.simulator.automation) run from start() to stop().
    this.fa = new FeederAutomation(this.site, this.model, {
      clock: this.opts.clock,
      scheduler: this.opts.scheduler ?? realScheduler(),
      logger: this.logger,
    });
    try {
      for (const group of this.groups) {
        const port = this.opts.portOverride?.(group.host, group.port) ?? group.port;
        const server = new ModbusTcpServer({
          host: group.host,
          port,
          units: group.units,
          faultOf: this.faultLookup(group.deviceByUnit),
          logger: this.logger,
        });
        await server.listen();
        this.servers.push({ group, server });
        this.logger.info('modbus server listening', { host: group.host, port: server.boundPort, units: group.units.size });
      }
      for (const group of this.busGroups) await this.startBus(group);
      const opcuaDevices = this.site.devices.filter((d): d is OpcUaDeviceConfig => d.protocol === 'opcua');
      if (opcuaDevices.length > 0) {
        // node-opcua costs ~100 MB: loaded only for sites that have OPC UA devices.
        const { startOpcUaFtuServers } = await import('./opcua-server.js');
        this.opcuaServers = await startOpcUaFtuServers(opcuaDevices, {
          model: this.model,
          clock: this.opts.clock,
          logger: this.logger,
          portOverride: this.opts.portOverride,
        });
      }
      const { controlHost } = this.site.simulator;
      const control = new ControlApi(this.model, {
        host: controlHost,
        port: this.opts.controlPort ?? this.site.simulator.controlPort,
        logger: this.logger,
        devices: this.faults,
      });
      this.control = control;
      const controlPort = await control.listen();
      this.logger.info('control API listening', { host: controlHost, port: controlPort });
      if (this.opts.scenario !== undefined) {
        this.runner = new ScenarioRunner(this.opts.scenario, this.model, {
          clock: this.opts.clock,
          scheduler: this.opts.scheduler ?? realScheduler(),
          logger: this.logger,
          faults: this.faults,
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
        rtuBuses: this.rtuServers.map(({ endpoint }) => ({ ...endpoint })),
        opcuaServers: this.opcuaServers.map((server) => ({ endpointUrl: server.endpointUrl, certificateFile: server.certificateFile, deviceIds: server.deviceIds })),
      };
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Requests (valid CRC) each unit id of an RTU bus has received so far; undefined for an unknown or stopped bus. */
  rtuRequestsByUnit(busId: string): ReadonlyMap<number, number> | undefined {
    return this.rtuServers.find(({ group }) => group.bus.id === busId)?.server.requestsByUnit;
  }

  /** The feeder automation while started (timers, FA notes); undefined before start() and after stop(). */
  get automation(): FeederAutomation | undefined {
    return this.fa;
  }

  async stop(): Promise<void> {
    this.runner?.stop();
    this.runner = undefined;
    this.fa?.stop();
    this.fa = undefined;
    await this.control?.close();
    this.control = undefined;
    await Promise.all(this.rtuServers.map(({ server }) => server.close()));
    this.rtuServers = [];
    await Promise.all(this.ptys.map((pty) => pty.close()));
    this.ptys = [];
    await Promise.all(this.servers.map(({ server }) => server.close()));
    this.servers = [];
    await Promise.all(this.opcuaServers.map((server) => server.dispose()));
    this.opcuaServers = [];
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.started = false;
  }
}
