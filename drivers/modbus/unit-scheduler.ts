/**
 * The per-unit-id poll scheduler of ONE shared Modbus channel: the unit ids of an RS-485 line (RTU bus
 * driver, rtu/bus-driver.ts) or the unit ids behind one Modbus TCP gateway / data concentrator endpoint
 * (tcp-endpoint-driver.ts). The channel (an RtuMaster, an MBAP connection) carries the requests; this file
 * decides which device is asked when, and what a silent device costs the others.
 *
 * Scheduling. Each device has its own fixed-rate poll interval; the devices' first polls are spread evenly
 * over their interval. The loop takes whatever is due first (earliest due time, then configured order), so
 * on a loaded channel polls run back to back in due-time order: a round robin over the unit ids in which
 * none starves. A device whose poll starts more than a whole interval late skips the missed ticks instead
 * of bursting to catch up. Writes go through the same loop, ahead of the next poll (never interrupting a
 * transaction). With `concurrency` > 1 that many loops share the schedule (a device is never polled twice
 * at once): for channels that carry several requests in flight (MBAP transaction ids).
 *
 * A dead device must not stall its neighbours (DESIGN.md): a poll that found the device silent - a TIMEOUT,
 * only other units' answers (WRONG_UNIT_ID), or a gateway saying so (exception 0x0A "gateway path
 * unavailable", 0x0B "gateway target device failed to respond", which a gateway answers only after its own
 * serial timeout) - backs the device off exponentially: 1 s, 2 s, 4 s ... capped at 30 s by default. While
 * backing off, its due polls still deliver a batch of bad readings (so the gateway learns once per interval
 * that it is down) without touching the channel, so the device costs at most one timeout per backoff
 * period. Any other answer from it (even another exception) ends the backoff. A poll that failed only
 * because the channel itself is down (CONNECTION_*) says nothing about the device: the channel backs off
 * reopening, and fails fast meanwhile.
 *
 * Every poll delivers one batch (one device, one reading per polled point) to the sink; the device reader
 * (device-reader.ts) plans the blocks, decodes, and ends a poll at its first TIMEOUT.
 *
 * Scheduling runs on monotonic time; the injected clock stamps readings and times the slow points.
 */
import { performance } from 'node:perf_hooks';
import type { Clock } from '../../gateway/clock.js';
import type { ModbusDeviceConfig } from '../device-config.js';
import type { DriverLogger } from '../driver-logger.js';
import type { ReadError, Reading, ReadingSink } from '../reading.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { ModbusDeviceReader } from './device-reader.js';
import { connectionLostError } from './errors.js';
import { ModbusRequestError, type ModbusRequester } from './requester.js';

/** A channel the scheduler polls through; FC 16 is optional (a single value always goes as FC 6). */
export interface ScheduledChannel extends ModbusRequester {
  writeRegisters?(unitId: number, address: number, values: readonly number[], timeoutMs: number): Promise<void>;
}

export type SchedulerLogger = Pick<DriverLogger, 'debug' | 'info' | 'warn' | 'error'>;

export interface UnitSchedulerOptions {
  /** Stamps the readings and times the slow points. */
  clock: Clock;
  logger?: SchedulerLogger | undefined;
  /** Backoff of a silent device. Default 1 s doubling to 30 s, ±10 % jitter seeded by the device id. */
  deviceBackoff?: BackoffOptions | undefined;
  /** Monotonic milliseconds for the scheduler; performance.now() by default. */
  monotonic?: (() => number) | undefined;
  /** Polls in flight at once (distinct devices). Default 1. */
  concurrency?: number | undefined;
  /** Log prefix and the fields naming the channel in every log line: `rtu`, `{ bus }`; `modbus`, `{ endpoint }`. */
  logPrefix: string;
  logFields: Record<string, unknown>;
}

export interface UnitStats {
  /** Due polls delivered (on the channel or from backoff). */
  polls: number;
  /** Polls that went on the channel. */
  linePolls: number;
  /** Polls answered by bad readings without a request, because the device was backing off. */
  backedOffPolls: number;
  /** Polls in which every point was good. */
  goodPolls: number;
  /** Polls that found the device silent and started (or extended) its backoff. */
  silentPolls: number;
  /** Ticks dropped because the poll started more than an interval late (channel overloaded). */
  skippedTicks: number;
  /** Clock time of the last delivered batch and of the last all-good one. */
  lastPollAt: number | null;
  lastGoodAt: number | null;
  /** Current backoff delay, 0 when the device answers. */
  backoffMs: number;
}

/** One device on the channel and its schedule. */
interface DeviceSlot {
  device: ModbusDeviceConfig;
  reader: ModbusDeviceReader;
  /** Monotonic due time of the next poll. */
  nextDue: number;
  /** Being polled by one of the loops. */
  busy: boolean;
  backoff: Backoff;
  /** Monotonic time before which the device is not asked (0: not backing off). */
  retryAt: number;
  /** What backed-off polls report. */
  downError: ReadError | null;
  stats: UnitStats;
}

interface PendingWrite {
  slot: DeviceSlot;
  address: number;
  values: readonly number[];
  resolve(): void;
  reject(err: Error): void;
}

/** Exceptions a gateway answers for a device it cannot reach: as costly as silence, and meaning the same. */
const GATEWAY_EXCEPTIONS: ReadonlySet<number> = new Set([10, 11]);

/** Whether an error means "the device did not answer at all" (and cost a full response timeout). */
export function isSilence(error: ReadError): boolean {
  if (error.code === 'TIMEOUT' || error.code === 'WRONG_UNIT_ID') return true;
  return error.code === 'MODBUS_EXCEPTION' && error.exceptionCode !== undefined && GATEWAY_EXCEPTIONS.has(error.exceptionCode);
}

/** Errors of the channel itself (port, device server or gateway unreachable), not of one device. */
const CHANNEL: ReadonlySet<ReadError['code']> = new Set(['CONNECTION_REFUSED', 'CONNECTION_LOST']);

export const DEFAULT_DEVICE_BACKOFF: BackoffOptions = { initialMs: 1000, factor: 2, maxMs: 30_000, jitter: 0.1 };

export class UnitScheduler {
  private readonly clock: Clock;
  private readonly logger: SchedulerLogger | undefined;
  private readonly channel: ScheduledChannel;
  private readonly slots: DeviceSlot[];
  private readonly byId: Map<string, DeviceSlot>;
  private readonly monotonic: () => number;
  private readonly concurrency: number;
  private readonly logPrefix: string;
  private readonly logFields: Record<string, unknown>;
  private readonly writes: PendingWrite[] = [];
  private writeCount = 0;

  private sink: ReadingSink | null = null;
  private started = false;
  private stopped = false;
  private loops: Promise<void> | null = null;
  /** End the loops' current idle waits early (a write arrived, a device became free, or stop()). */
  private readonly wakers = new Set<() => void>();

  /** @throws RangeError for a configuration the device reader rejects or a non-positive poll interval. */
  constructor(devices: readonly ModbusDeviceConfig[], channel: ScheduledChannel, opts: UnitSchedulerOptions) {
    this.clock = opts.clock;
    this.logger = opts.logger;
    this.channel = channel;
    this.monotonic = opts.monotonic ?? (() => performance.now());
    this.concurrency = Math.max(1, Math.floor(opts.concurrency ?? 1));
    this.logPrefix = opts.logPrefix;
    this.logFields = opts.logFields;
    const backoff = { ...DEFAULT_DEVICE_BACKOFF, ...opts.deviceBackoff };
    this.slots = devices.map((device) => {
      if (!(device.pollIntervalMs > 0)) throw new RangeError(`device ${device.id}: pollIntervalMs must be > 0`);
      return {
        device,
        reader: new ModbusDeviceReader(device, { clock: opts.clock, ...(opts.logger !== undefined ? { logger: opts.logger } : {}) }),
        nextDue: 0,
        busy: false,
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
      };
    });
    this.byId = new Map(this.slots.map((slot) => [slot.device.id, slot]));
  }

  /** Counters of each device (live objects: copy them to keep a snapshot). */
  get deviceStats(): Record<string, UnitStats> {
    const devices: Record<string, UnitStats> = {};
    for (const slot of this.slots) devices[slot.device.id] = slot.stats;
    return devices;
  }

  get writesDone(): number {
    return this.writeCount;
  }

  get running(): boolean {
    return this.started && !this.stopped;
  }

  start(sink: ReadingSink): void {
    if (this.started) throw new Error('scheduler cannot be started twice');
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
    const loops: Array<Promise<void>> = [];
    for (let i = 0; i < this.concurrency; i++) {
      loops.push(
        this.run().catch((err: unknown) => {
          this.logger?.error(`${this.logPrefix} poll loop failed`, { ...this.logFields, error: String(err) });
        }),
      );
    }
    this.loops = Promise.all(loops).then(() => undefined);
  }

  /**
   * Stops scheduling. `closeChannel` is called once no new poll can start: it must fail the transactions in
   * flight at once (instead of waiting for their timeouts). Resolves when the loops have ended; queued
   * writes are rejected and no batch is delivered afterwards.
   */
  async stop(closeChannel: () => Promise<void> | void): Promise<void> {
    if (this.stopped) {
      await this.loops;
      return;
    }
    this.stopped = true;
    this.wakeAll();
    await closeChannel();
    await this.loops;
    for (const write of this.writes.splice(0)) write.reject(new ModbusRequestError(connectionLostError('driver stopped')));
    this.sink = null;
  }

  /**
   * Writes holding registers of a device through the queue, ahead of the next poll: FC 6 for one value,
   * FC 16 for several. Resolves when the device confirmed; rejects with ModbusRequestError (stable code)
   * when it did not, with RangeError for an unknown device, and with Error when not running.
   */
  write(deviceId: string, address: number, value: number | readonly number[], names: { channel: string; driver: string }): Promise<void> {
    const slot = this.byId.get(deviceId);
    if (slot === undefined) return Promise.reject(new RangeError(`no device ${deviceId} on ${names.channel}`));
    if (!this.started || this.stopped) return Promise.reject(new Error(`${names.driver} is not running`));
    const values = typeof value === 'number' ? [value] : value;
    return new Promise<void>((resolve, reject) => {
      this.writes.push({ slot, address, values, resolve, reject });
      this.wakeAll();
    });
  }

  private wakeAll(): void {
    for (const wake of [...this.wakers]) wake();
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
      slot.busy = true;
      try {
        await this.poll(slot);
      } finally {
        slot.busy = false;
        // Another loop may be waiting with every device busy.
        if (this.concurrency > 1) this.wakeAll();
      }
    }
  }

  /** The free device due first: earliest due time, ties in configured order. */
  private nextSlot(): DeviceSlot | undefined {
    let best: DeviceSlot | undefined;
    for (const slot of this.slots) {
      if (slot.busy) continue;
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
        this.wakers.delete(done);
        resolve();
      };
      if (Number.isFinite(ms)) timer = setTimeout(done, Math.ceil(ms));
      this.wakers.add(done);
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
      readings = await slot.reader.poll(this.channel, kind);
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

  /** After a poll on the channel: back a silent device off, or end its backoff when it answered. */
  private judge(slot: DeviceSlot, readings: readonly Reading[]): void {
    let answered = false;
    let silence: ReadError | undefined;
    let channelOnly = readings.length > 0;
    for (const reading of readings) {
      const error = reading.error;
      if (error === undefined) {
        answered = true;
        channelOnly = false;
        continue;
      }
      if (!CHANNEL.has(error.code)) channelOnly = false;
      if (isSilence(error)) silence ??= error;
      else if (!CHANNEL.has(error.code)) answered = true;
    }
    if (channelOnly) return;
    const { id } = slot.device;
    if (!answered && silence !== undefined) {
      const delay = slot.backoff.next();
      slot.retryAt = this.monotonic() + delay;
      slot.stats.silentPolls++;
      slot.stats.backoffMs = delay;
      slot.downError = Object.freeze({
        ...silence,
        message: `${silence.message}; device backing off, not asked again for ${delay} ms`,
        retryable: true,
      });
      const log = slot.backoff.attempts === 1 ? this.logger?.warn : this.logger?.debug;
      log?.call(this.logger, `${this.logPrefix} device silent, backing off`, { ...this.logFields, deviceId: id, code: silence.code, retryInMs: delay });
      return;
    }
    if (slot.backoff.attempts > 0) {
      this.logger?.info(`${this.logPrefix} device answers again`, { ...this.logFields, deviceId: id, afterSilentPolls: slot.backoff.attempts });
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
        await this.channel.writeRegister(unitId, write.address, write.values[0] as number, timeoutMs);
      } else if (this.channel.writeRegisters !== undefined) {
        await this.channel.writeRegisters(unitId, write.address, write.values, timeoutMs);
      } else {
        throw new RangeError('this channel writes one register at a time');
      }
      this.writeCount++;
      write.resolve();
    } catch (err) {
      this.logger?.warn(`${this.logPrefix} write failed`, { ...this.logFields, deviceId: id, address: write.address, error: String(err) });
      write.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private emit(readings: Reading[]): void {
    const sink = this.sink;
    if (sink === null || readings.length === 0 || this.stopped) return;
    try {
      sink(readings);
    } catch (err) {
      // A failing consumer must not stop the channel.
      this.logger?.error('reading sink threw', { ...this.logFields, deviceId: readings[0]?.deviceId, error: String(err) });
    }
  }
}
