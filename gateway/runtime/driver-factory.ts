/**
 * Builds the drivers of a site: one per physical channel. Modbus TCP devices on one host:port (a gateway or
 * data concentrator with unit ids behind it) share one connection and one request scheduler, unless a device
 * asks for `connection: dedicated`; a device alone on its endpoint, or dedicated, gets a connection of its
 * own. The devices of one RTU bus share that bus's scheduler; OPC UA devices get one session per endpoint.
 * Protocol stacks are imported only when a site uses them (node-opcua alone costs ~100 MB).
 */
import type { ModbusRtuDeviceConfig, ModbusTcpDeviceConfig, OpcUaDeviceConfig, SiteConfig } from '../config/site-config.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Driver } from '../../drivers/reading.js';
import { ModbusTcpDriver } from '../../drivers/modbus/tcp-driver.js';
import { endpointKey, ModbusTcpEndpointDriver } from '../../drivers/modbus/tcp-endpoint-driver.js';

export interface DriverFactoryOptions {
  clock: Clock;
  logger: Logger;
}

export async function createDrivers(site: SiteConfig, opts: DriverFactoryOptions): Promise<Driver[]> {
  const drivers: Driver[] = [];
  // Shared devices grouped by endpoint, in the order the site lists them.
  const shared = new Map<string, ModbusTcpDeviceConfig[]>();
  for (const device of site.devices) {
    if (device.protocol !== 'modbus-tcp' || device.connection === 'dedicated') continue;
    const key = endpointKey(device);
    const group = shared.get(key);
    if (group === undefined) shared.set(key, [device]);
    else group.push(device);
  }
  for (const device of site.devices) {
    if (device.protocol !== 'modbus-tcp') continue;
    const group = device.connection === 'dedicated' ? undefined : shared.get(endpointKey(device));
    if (group === undefined || group.length === 1) {
      drivers.push(new ModbusTcpDriver(device, { clock: opts.clock, logger: opts.logger.child({ module: 'modbus', deviceId: device.id }) }));
    } else if (group[0] === device) {
      const endpoint = endpointKey(device);
      drivers.push(new ModbusTcpEndpointDriver(group, { clock: opts.clock, logger: opts.logger.child({ module: 'modbus', endpoint }) }));
    }
  }
  // One scheduler per RTU line, shared by every unit id on it: exactly one request in flight on the wire.
  for (const bus of site.buses) {
    const devices = site.devices.filter((d): d is ModbusRtuDeviceConfig => d.protocol === 'modbus-rtu' && d.bus === bus.id);
    if (devices.length === 0) continue;
    const { ModbusRtuBusDriver } = await import('../../drivers/modbus/rtu/bus-driver.js');
    drivers.push(new ModbusRtuBusDriver(bus, devices, { clock: opts.clock, logger: opts.logger.child({ module: 'modbus-rtu', bus: bus.id }) }));
  }
  // One session per OPC UA endpoint (security settings and user included), shared by its devices.
  const opcua = site.devices.filter((d): d is OpcUaDeviceConfig => d.protocol === 'opcua');
  if (opcua.length > 0) {
    // The loader requires the top-level opcua block whenever an OPC UA device exists.
    if (site.opcua === undefined) throw new Error('OPC UA devices need the top-level opcua block (pkiDir)');
    const { createOpcUaDrivers, routeNodeOpcuaLogs } = await import('../../drivers/opcua/index.js');
    const logger = opts.logger.child({ module: 'opcua' });
    routeNodeOpcuaLogs(logger);
    drivers.push(...createOpcUaDrivers(opcua, site.opcua, { clock: opts.clock, logger }));
  }
  return drivers;
}
