/**
 * The driver of one Modbus RTU bus: every device (unit id) on one RS-485 line, local or behind a serial
 * device server, polled through ONE queue with exactly one request on the line at a time.
 *
 * Scheduling. Each device has its own fixed-rate poll interval; the devices' first polls are spread evenly
 * over their interval. A single loop takes whatever is due first (earliest due time, then configured
 * order), so on a loaded bus polls run back to back in due-time order and none starves. A device whose poll
 * starts more than a whole interval late skips the missed ticks instead of bursting to catch up. Writes go
 * through the same loop, ahead of the next poll (never interrupting the transaction on the line).
 *
 * A dead device must not stall its neighbours (DESIGN.md; the classic RS-485 complaint): a poll that found
 * the device silent (TIMEOUT, or only other units' answers) backs the device off exponentially - 1 s, 2 s,
 * 4 s ... capped at 30 s by default. While backing off, its due polls still deliver a batch of bad readings
 * (so the gateway learns once per interval that it is down) without touching the line, so the device costs
 * at most one timeout per backoff period. Any answer from it (even an exception) ends the backoff.
 *
 * Every poll delivers one batch (one device, one reading per polled point) to the sink; the device reader
 * (device-reader.ts) plans the blocks, decodes, and ends a poll at its first TIMEOUT.
 *
 * Scheduling runs on monotonic time; the injected clock stamps readings and times the slow points.
 */
import { performance } from 'node:perf_hooks';
import type { Clock } from '../../../gateway/clock.js';
import type { BusConfig, ModbusRtuDeviceConfig } from '../../device-config.js';
import type { Driver, ReadError, Reading, ReadingSink } from '../../reading.js';
import { Backoff, type BackoffOptions } from '../backoff.js';
import { ModbusDeviceReader } from '../device-reader.js';
import { connectionLostError } from '../errors.js';
import { ModbusRequestError } from '../requester.js';
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

export interface RtuDeviceStats {
  /** Due polls delivered (on the line or from backoff). */
  polls: number;
  /** Polls that went on the line. */
  linePolls: number;
  /** Polls answered by bad readings without a request, because the device was backing off. */
  backedOffPolls: number;
  /** Polls in which every point was good. */
  goodPolls: number;
  /** Polls that found the device silent and started (or extended) its backoff. */
  silentPolls: number;
  /** Ticks dropped because the poll started more than an interval late (bus overloaded). */
  skippedTicks: number;
  /** Clock time of the last delivered batch and of the last all-good one. */
  lastPollAt: number | null;
  lastGoodAt: number | null;
  /** Current backoff delay, 0 when the device answers. */
  backoffMs: number;
}

export interface RtuBusStats {
  line: RtuMasterStats;
  devices: Record<string, RtuDeviceStats>;
  writes: number;
}

/** One device on the bus and its schedule. */
interface DeviceSlot {
  device: ModbusRtuDeviceConfig;
  order: number;
  reader: ModbusDeviceReader;
  /** Monotonic due time of the next poll. */
  nextDue: number;
  backoff: Backoff;
  /** Monotonic time before which the device is not asked (0: not backing off). */
  retryAt: number;
  /** What backed-off polls report. */
  downError: ReadError | null;
  stats: RtuDeviceStats;
}

interface PendingWrite {
  slot: DeviceSlot;
  address: number;
  values: readonly number[];
  resolve(): void;
  reject(err: Error): void;
}

/** Errors meaning "the device did not answer at all" and costing a full response timeout each. */
const SILENT: ReadonlySet<ReadError['code']> = new Set(['TIMEOUT', 'WRONG_UNIT_ID']);

/** Errors of the line itself (port or device server unreachable), not of one device. */
const CHANNEL: ReadonlySet<ReadError['code']> = new Set(['CONNECTION_REFUSED', 'CONNECTION_LOST']);

const DEFAULT_DEVICE_BACKOFF: BackoffOptions = { initialMs: 1000, factor: 2, maxMs: 30_000, jitter: 0.1 };

/** The byte stream a bus config describes. */
export function createBusTransport(bus: BusConfig): ByteTransport {
  return bus.type === 'serial' ? new SerialTransport(bus) : new TcpTransport(bus);
}

export class ModbusRtuBusDriver implements Driver {
  readonly id: string;
  readonly deviceIds: readonly string[];
  readonly bus: BusConfig;
  private readonly clock: Clock;
  private readonly logger: RtuLogger | undefined;
  private readonly master: RtuMaster;
  private readonly slots: DeviceSlot[];
  private readonly byId: Map<string, DeviceSlot>;
  private readonly monotonic: () => number;
  private readonly writes: PendingWrite[] = [];
  private writeCount = 0;

  private sink: ReadingSink | null = null;
  private started = false;
  private stopped = false;
  private loop: Promise<void> | null = null;
  /** Ends the loop's current idle wait early (a write arrived, or stop()). */
  private wake: (() => void) | null = null;

  /**
   * @param bus the line (from `site.buses`)
   * @param devices the site's `modbus-rtu` devices whose `bus` is this bus's id
   * @throws RangeError for a device of another bus, a unit id used twice, unit id 0 (broadcast) or a
   *   configuration the device reader rejects
   */
  constructor(bus: BusConfig, devices: readonly ModbusRtuDeviceConfig[], opts: ModbusRtuBusDriverOptions) {
    this.id = bus.id;
    this.bus = bus;
    this.clock = opts.clock;
    this.logger = opts.logger;
    this.monotonic = opts.monotonic ?? (() => performance.now());
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
    const transport = opts.transport ?? createBusTransport(bus);
    this.master = new RtuMaster(transport, {
      ...opts.master,
      line: bus,
      ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
      now: this.monotonic,
    });
    const backoff = { ...DEFAULT_DEVICE_BACKOFF, ...opts.deviceBackoff };
    this.slots = devices.map((device, order) => ({
      device,
      order,
      reader: new ModbusDeviceReader(device, { clock: opts.clock, ...(opts.logger !== undefined ? { logger: opts.logger } : {}) }),
      nextDue: 0,
      backoff: new Backoff({ ...backoff, seed: device.id }),
      retryAt: 0,
      downError: null,
      stats: {
        polls: 0,
        linePolls: 0,
        backedOffPolls: 0,
        goodPolls: 0,
        silentPolls: 0,
        skippedTicks: 0,
        lastPollAt: null,
        lastGoodAt: null,
        backoffMs: 0,
      },
    }));
    this.byId = new Map(this.slots.map((slot) => [slot.device.id, slot]));
  }

  /** Counters of the line and of each device (live objects: copy them to keep a snapshot). */
  get stats(): RtuBusStats {
    const devices: Record<string, RtuDeviceStats> = {};
    for (const slot of this.slots) devices[slot.device.id] = slot.stats;
    return { line: this.master.stats, devices, writes: this.writeCount };
  }

  async start(sink: ReadingSink): Promise<void> {
    if (this.started) throw new Error(`RTU bus driver ${this.id} cannot be started twice`);
    this.started = true;
    this.sink = sink;
    const now = this.monotonic();
    // Spread the first polls of devices with the same interval evenly over it.
    const byInterval = new Map<number, DeviceSlot[]>();
    for (const slot of this.slots) {
      const group = byInterval.get(slot.device.pollIntervalMs) ?? [];
      group.push(slot);
      byInterval.set(slot.device.pollIntervalMs, group);
    }
    for (const [interval, group] of byInterval) {
      group.forEach((slot, i) => {
        slot.nextDue = now + (i * interval) / group.length;
      });
    }
    this.loop = this.run().catch((err: unknown) => {
      this.logger?.error('rtu bus loop failed', { bus: this.id, error: String(err) });
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) {
      await this.loop;
      return;
    }
    this.stopped = true;
    this.wake?.();
    // Closing the master fails the transaction in flight at once instead of waiting for its timeout.
    await this.master.close();
    await this.loop;
    for (const write of this.writes.splice(0)) write.reject(new ModbusRequestError(connectionLostError('driver stopped')));
    this.sink = null;
  }

  /**
   * Writes holding registers of a device through the bus queue, ahead of the next poll: FC 6 for one value,
   * FC 16 for several. Resolves when the device confirmed; rejects with ModbusRequestError (stable code)
   * when it did not, with RangeError for an unknown device or a value out of range, and with Error when
   * the driver is not running.
   */
  write(deviceId: string, address: number, value: number | readonly number[]): Promise<void> {
    const slot = this.byId.get(deviceId);
    if (slot === undefined) return Promise.reject(new RangeError(`no device ${deviceId} on bus ${this.id}`));
    if (!this.started || this.stopped) return Promise.reject(new Error(`RTU bus driver ${this.id} is not running`));
    const values = typeof value === 'number' ? [value] : value;
    return new Promise<void>((resolve, reject) => {
      this.writes.push({ slot, address, values, resolve, reject });
      this.wake?.();
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const write = this.writes.shift();
      if (write !== undefined) {
        await this.performWrite(write);
        continue;
      }
      const slot = this.nextSlot();
      if (slot === undefined) {
        await this.idle(Number.POSITIVE_INFINITY);
        continue;
      }
      const wait = slot.nextDue - this.monotonic();
      if (wait > 0) {
        await this.idle(wait);
        continue;
      }
      this.advance(slot);
      await this.poll(slot);
    }
  }

  /** The device due first: earliest due time, ties in configured order. */
  private nextSlot(): DeviceSlot | undefined {
    let best: DeviceSlot | undefined;
    for (const slot of this.slots) {
      if (best === undefined || slot.nextDue < best.nextDue) best = slot;
    }
    return best;
  }

  /** Moves the due time one interval on (fixed rate), dropping ticks missed by more than an interval. */
  private advance(slot: DeviceSlot): void {
    const interval = slot.device.pollIntervalMs;
    const behind = this.monotonic() - slot.nextDue;
    const missed = Math.floor(behind / interval);
    slot.stats.skippedTicks += missed;
    slot.nextDue += (missed + 1) * interval;
  }

  private idle(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const done = (): void => {
        if (timer !== null) clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      if (Number.isFinite(ms)) timer = setTimeout(done, Math.ceil(ms));
      this.wake = done;
    });
  }

  private async poll(slot: DeviceSlot): Promise<void> {
    const kind = slot.reader.dueKind(this.clock.now());
    let readings: Reading[];
    if (slot.retryAt > this.monotonic() && slot.downError !== null) {
      readings = slot.reader.fail(kind, slot.downError);
      slot.stats.backedOffPolls++;
    } else {
      slot.stats.linePolls++;
      readings = await slot.reader.poll(this.master, kind);
      if (this.stopped) return;
      this.judge(slot, readings);
    }
    slot.stats.polls++;
    const now = this.clock.now();
    slot.stats.lastPollAt = now;
    if (readings.length > 0 && readings.every((r) => r.quality === 'good')) {
      slot.stats.goodPolls++;
      slot.stats.lastGoodAt = now;
    }
    this.emit(readings);
  }

  /**
   * After a poll on the line: back a silent device off, or end its backoff when it answered. A poll that
   * failed only because the line itself is down (CONNECTION_*) says nothing about the device: the master
   * backs off reopening the line, and fails fast meanwhile.
   */
  private judge(slot: DeviceSlot, readings: readonly Reading[]): void {
    const errors = readings.map((r) => r.error);
    if (errors.length > 0 && errors.every((e) => e !== undefined && CHANNEL.has(e.code))) return;
    const answered = errors.some((e) => e === undefined || !SILENT.has(e.code));
    const silence = errors.find((e) => e !== undefined && SILENT.has(e.code));
    const { id } = slot.device;
    if (!answered && silence !== undefined) {
      const delay = slot.backoff.next();
      slot.retryAt = this.monotonic() + delay;
      slot.stats.silentPolls++;
      slot.stats.backoffMs = delay;
      slot.downError = Object.freeze({
        code: silence.code,
        message: `${silence.message}; device backing off, not asked again for ${delay} ms`,
        retryable: true,
      });
      const log = slot.backoff.attempts === 1 ? this.logger?.warn : this.logger?.debug;
      log?.call(this.logger, 'rtu device silent, backing off', { bus: this.id, deviceId: id, code: silence.code, retryInMs: delay });
      return;
    }
    if (slot.backoff.attempts > 0) {
      this.logger?.info('rtu device answers again', { bus: this.id, deviceId: id, afterSilentPolls: slot.backoff.attempts });
    }
    slot.backoff.reset();
    slot.retryAt = 0;
    slot.downError = null;
    slot.stats.backoffMs = 0;
  }

  private async performWrite(write: PendingWrite): Promise<void> {
    const { unitId, timeoutMs, id } = write.slot.device;
    try {
      if (write.values.length === 1) {
        await this.master.writeRegister(unitId, write.address, write.values[0] as number, timeoutMs);
      } else {
        await this.master.writeRegisters(unitId, write.address, write.values, timeoutMs);
      }
      this.writeCount++;
      write.resolve();
    } catch (err) {
      this.logger?.warn('rtu write failed', { bus: this.id, deviceId: id, address: write.address, error: String(err) });
      write.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private emit(readings: Reading[]): void {
    const sink = this.sink;
    if (sink === null || readings.length === 0 || this.stopped) return;
    try {
      sink(readings);
    } catch (err) {
      // A failing consumer must not stop the bus.
      this.logger?.error('reading sink threw', { bus: this.id, deviceId: readings[0]?.deviceId, error: String(err) });
    }
  }
}
