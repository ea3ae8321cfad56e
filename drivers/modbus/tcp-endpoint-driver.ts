/**
 * Modbus TCP driver for MANY devices behind ONE endpoint (host:port): a Modbus TCP gateway, a data
 * concentrator or a serial device server in "Modbus TCP to RTU" mode, with a unit id per meter behind it.
 * One TCP connection (mbap-channel.ts) and one request scheduler (unit-scheduler.ts, the one the RTU bus
 * driver uses) serve them all:
 *
 * - requests are serialized by default (`maxInFlight` 1): most concentrators handle one request at a time,
 *   and behind the gateway it is one RS-485 line anyway; `maxInFlight` > 1 keeps that many requests of
 *   distinct devices in flight, matched by MBAP transaction id, for gateways that queue or run several
 *   lines;
 * - fair round robin over the unit ids: each device has its own fixed-rate schedule, earliest due first;
 * - per unit id timeout and backoff: a dead meter (timeout, or exception 0x0B "gateway target device failed
 *   to respond", or 0x0A) is backed off 1 s, 2 s, 4 s ... 30 s, so that it costs the others at most one
 *   timeout per backoff period, while its due polls still deliver bad batches (availability unchanged);
 * - the connection is reopened on loss (with the endpoint's reconnect backoff) without touching the
 *   per-device schedules: polls due meanwhile deliver CONNECTION_* batches and do not back devices off.
 *
 * Readings are exactly those of the one-connection-per-device driver (tcp-driver.ts): one batch per poll,
 * one reading per polled point, failures as bad readings with a stable code.
 */
import type { Clock } from '../../gateway/clock.js';
import type { ModbusTcpDeviceConfig } from '../device-config.js';
import type { DriverLogger } from '../driver-logger.js';
import type { Driver, ReadingSink } from '../reading.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { MbapChannel, type MbapChannelStats } from './mbap-channel.js';
import { UnitScheduler, type UnitStats } from './unit-scheduler.js';

export interface ModbusTcpEndpointDriverOptions {
  /** Stamps the readings and times the slow points. */
  clock: Clock;
  logger?: DriverLogger;
  /** Requests in flight on the connection at once, each for a different device. Default 1. */
  maxInFlight?: number;
  /** Backoff of a silent device. Default 1 s doubling to 30 s, ±10 % jitter seeded by the device id. */
  deviceBackoff?: BackoffOptions;
  /** Reconnect backoff of the endpoint. Default 500 ms doubling to 30 s, ±10 % jitter. */
  reconnectBackoff?: BackoffOptions;
  /** Consecutive timeouts, with no answer from any unit in between, after which the connection is reopened. Default 3. */
  timeoutsBeforeReconnect?: number;
  /** Monotonic milliseconds for the scheduler; performance.now() by default. */
  monotonic?: () => number;
}

export interface ModbusTcpEndpointStats {
  endpoint: MbapChannelStats;
  devices: Record<string, UnitStats>;
  writes: number;
}

/** The key devices are grouped by: host (case-insensitive) and port. */
export function endpointKey(device: Pick<ModbusTcpDeviceConfig, 'host' | 'port'>): string {
  const host = device.host.toLowerCase();
  return `${host.includes(':') ? `[${host}]` : host}:${device.port}`;
}

export class ModbusTcpEndpointDriver implements Driver {
  /** `host:port`. */
  readonly id: string;
  readonly deviceIds: readonly string[];
  private readonly channel: MbapChannel;
  private readonly scheduler: UnitScheduler;
  private started = false;

  /**
   * @param devices modbus-tcp devices that all have the same host and port
   * @throws RangeError for no devices, devices on different endpoints, a unit id used twice or a
   *   configuration the device reader rejects
   */
  constructor(devices: readonly ModbusTcpDeviceConfig[], opts: ModbusTcpEndpointDriverOptions) {
    const first = devices[0];
    if (first === undefined) throw new RangeError('an endpoint driver needs at least one device');
    this.id = endpointKey(first);
    const units = new Map<number, string>();
    for (const device of devices) {
      if (endpointKey(device) !== this.id) throw new RangeError(`device ${device.id} is on ${endpointKey(device)}, not ${this.id}`);
      const other = units.get(device.unitId);
      if (other !== undefined) throw new RangeError(`devices ${other} and ${device.id} both use unit id ${device.unitId} on ${this.id}`);
      units.set(device.unitId, device.id);
    }
    this.deviceIds = devices.map((d) => d.id);
    const logFields = { endpoint: this.id };
    this.channel = new MbapChannel({
      host: first.host,
      port: first.port,
      connectTimeoutMs: Math.max(...devices.map((d) => d.timeoutMs)),
      backoff: new Backoff({ seed: this.id, ...opts.reconnectBackoff }),
      timeoutsBeforeReconnect: opts.timeoutsBeforeReconnect ?? 3,
      logger: opts.logger,
      logFields,
    });
    this.scheduler = new UnitScheduler(devices, this.channel, {
      clock: opts.clock,
      logger: opts.logger,
      deviceBackoff: opts.deviceBackoff,
      monotonic: opts.monotonic,
      concurrency: opts.maxInFlight ?? 1,
      logPrefix: 'modbus',
      logFields,
    });
  }

  /** Counters of the connection and of each device (device entries are live objects). */
  get stats(): ModbusTcpEndpointStats {
    return { endpoint: this.channel.stats, devices: this.scheduler.deviceStats, writes: this.scheduler.writesDone };
  }

  async start(sink: ReadingSink): Promise<void> {
    if (this.started) throw new Error(`Modbus TCP endpoint driver ${this.id} cannot be started twice`);
    this.started = true;
    this.scheduler.start(sink);
  }

  async stop(): Promise<void> {
    // Closing the channel fails the requests in flight at once instead of waiting for their timeouts.
    await this.scheduler.stop(() => this.channel.close());
  }

  /**
   * Writes holding registers of a device through the endpoint's queue, ahead of the next poll: FC 6 for one
   * value, FC 16 for several. Rejects with ModbusRequestError (stable code) when the device did not
   * confirm, RangeError for an unknown device, Error when the driver is not running.
   */
  write(deviceId: string, address: number, value: number | readonly number[]): Promise<void> {
    return this.scheduler.write(deviceId, address, value, { channel: this.id, driver: `Modbus TCP endpoint driver ${this.id}` });
  }
}
