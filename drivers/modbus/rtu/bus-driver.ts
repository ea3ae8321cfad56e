/**
 * The driver of one Modbus RTU bus: every device (unit id) on one RS-485 line, local or behind a serial
 * device server, polled through ONE queue with exactly one request on the line at a time.
 *
 * The schedule and the failure rules are the unit scheduler's (../unit-scheduler.ts, shared with the Modbus
 * TCP endpoint driver for unit ids behind one gateway): fixed-rate polls per device spread over their
 * interval, earliest due first, missed ticks skipped, writes ahead of the next poll, and a silent device
 * (TIMEOUT, only other units' answers) backed off exponentially - 1 s, 2 s, 4 s ... capped at 30 s by
 * default - so that it costs at most one timeout per backoff period. While backing off, its due polls
 * still deliver a batch of bad readings without touching the line. Any answer from it ends the backoff.
 * This file owns the line: the RTU master (framing, CRC, line timing) over a serial port or a TCP socket.
 *
 * Every poll delivers one batch (one device, one reading per polled point) to the sink; the device reader
 * (device-reader.ts) plans the blocks, decodes, and ends a poll at its first TIMEOUT.
 *
 * Scheduling runs on monotonic time; the injected clock stamps readings and times the slow points.
 */
import { performance } from 'node:perf_hooks';
import type { Clock } from '../../../gateway/clock.js';
import type { BusConfig, ModbusRtuDeviceConfig } from '../../device-config.js';
import type { Driver, ReadingSink } from '../../reading.js';
import type { BackoffOptions } from '../backoff.js';
import { UnitScheduler, type UnitStats } from '../unit-scheduler.js';
import { RtuMaster, type RtuLogger, type RtuMasterOptions, type RtuMasterStats } from './rtu-master.js';
import { SerialTransport } from './serial-transport.js';
import { TcpTransport } from './tcp-transport.js';
import type { ByteTransport } from './transport.js';

export interface ModbusRtuBusDriverOptions {
  /** Stamps the readings and times the slow points. */
  clock: Clock;
  logger?: RtuLogger;
  /** The byte stream to the line. Default: a serial port (`type: serial`) or a TCP socket (`type: rtu-over-tcp`). */
  transport?: ByteTransport;
  /** Backoff of a silent device. Default 1 s doubling to 30 s, ±10 % jitter seeded by the device id. */
  deviceBackoff?: BackoffOptions;
  /** Master tuning (frame silence, broadcast turnaround, transport reopen backoff). */
  master?: Omit<RtuMasterOptions, 'line' | 'logger' | 'now'>;
  /** Monotonic milliseconds for the scheduler; performance.now() by default. */
  monotonic?: () => number;
}

/** Counters of one device on the bus (the unit scheduler's). */
export type RtuDeviceStats = UnitStats;

export interface RtuBusStats {
  line: RtuMasterStats;
  devices: Record<string, RtuDeviceStats>;
  writes: number;
}

/** The byte stream a bus config describes. */
export function createBusTransport(bus: BusConfig): ByteTransport {
  return bus.type === 'serial' ? new SerialTransport(bus) : new TcpTransport(bus);
}

export class ModbusRtuBusDriver implements Driver {
  readonly id: string;
  readonly deviceIds: readonly string[];
  readonly bus: BusConfig;
  private readonly master: RtuMaster;
  private readonly scheduler: UnitScheduler;
  private started = false;

  /**
   * @param bus the line (from `site.buses`)
   * @param devices the site's `modbus-rtu` devices whose `bus` is this bus's id
   * @throws RangeError for a device of another bus, a unit id used twice, unit id 0 (broadcast) or a
   *   configuration the device reader rejects
   */
  constructor(bus: BusConfig, devices: readonly ModbusRtuDeviceConfig[], opts: ModbusRtuBusDriverOptions) {
    this.id = bus.id;
    this.bus = bus;
    const units = new Map<number, string>();
    for (const device of devices) {
      if (device.bus !== bus.id) throw new RangeError(`device ${device.id} is on bus ${device.bus}, not ${bus.id}`);
      if (!Number.isInteger(device.unitId) || device.unitId < 1 || device.unitId > 255) {
        throw new RangeError(`device ${device.id}: unit id on an RTU bus must be 1..247 (0 is broadcast), got ${device.unitId}`);
      }
      const other = units.get(device.unitId);
      if (other !== undefined) throw new RangeError(`devices ${other} and ${device.id} both use unit id ${device.unitId} on bus ${bus.id}`);
      units.set(device.unitId, device.id);
      if (!(device.pollIntervalMs > 0)) throw new RangeError(`device ${device.id}: pollIntervalMs must be > 0`);
    }
    this.deviceIds = devices.map((d) => d.id);
    const monotonic = opts.monotonic ?? (() => performance.now());
    const transport = opts.transport ?? createBusTransport(bus);
    this.master = new RtuMaster(transport, {
      ...opts.master,
      line: bus,
      ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
      now: monotonic,
    });
    this.scheduler = new UnitScheduler(devices, this.master, {
      clock: opts.clock,
      logger: opts.logger,
      deviceBackoff: opts.deviceBackoff,
      monotonic,
      logPrefix: 'rtu',
      logFields: { bus: bus.id },
    });
  }

  /** Counters of the line and of each device (live objects: copy them to keep a snapshot). */
  get stats(): RtuBusStats {
    return { line: this.master.stats, devices: this.scheduler.deviceStats, writes: this.scheduler.writesDone };
  }

  async start(sink: ReadingSink): Promise<void> {
    if (this.started) throw new Error(`RTU bus driver ${this.id} cannot be started twice`);
    this.started = true;
    this.scheduler.start(sink);
  }

  async stop(): Promise<void> {
    // Closing the master fails the transaction in flight at once instead of waiting for its timeout.
    await this.scheduler.stop(() => this.master.close());
  }

  /**
   * Writes holding registers of a device through the bus queue, ahead of the next poll: FC 6 for one value,
   * FC 16 for several. Resolves when the device confirmed; rejects with ModbusRequestError (stable code)
   * when it did not, with RangeError for an unknown device or a value out of range, and with Error when
   * the driver is not running.
   */
  write(deviceId: string, address: number, value: number | readonly number[]): Promise<void> {
    return this.scheduler.write(deviceId, address, value, { channel: `bus ${this.id}`, driver: `RTU bus driver ${this.id}` });
  }
}
