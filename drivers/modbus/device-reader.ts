/**
 * What to read from one Modbus device and how to turn the answers into readings, independent of how the
 * requests travel (Modbus TCP, RTU on a serial line, RTU through a serial device server). Shared by the
 * TCP driver and the RTU bus driver: they own the channel, the timing and the backoff; the reader owns the
 * block plan, the decoding and the per-poll failure rules.
 *
 * Use:
 * ```ts
 * const reader = new ModbusDeviceReader(device, { clock });
 * // at each poll tick of the device (one poll at a time per reader):
 * const readings = await reader.poll(requester, reader.dueKind(clock.now()));
 * // while the device is known to be unreachable (backing off), without any request:
 * const readings = reader.fail(reader.dueKind(clock.now()), error);
 * ```
 *
 * Rules of a poll:
 * - `fast` reads the fast points, `all` the fast and slow ones (`dueKind` says which is due: slow points
 *   every `slowPollIntervalMs`). The readings are the polled points in configured order, one each.
 * - A block that fails makes all its points `bad` with the requester's error (never a 0).
 * - After a TIMEOUT, CONNECTION_REFUSED or CONNECTION_LOST, or a gateway's exception 10 (Gateway Path
 *   Unavailable) or 11 (Gateway Target Device Failed to Respond, sent after the gateway's own timeout), the
 *   remaining blocks of the poll are marked with the same error without a request: a dead device costs one
 *   timeout per poll, not one per block.
 * - A block answered with exception 2 (Illegal Data Address) or 3 (Illegal Data Value) is read again point by
 *   point in the same poll (a gap bridged by the plan may hold addresses the device does not implement);
 *   points that fail on their own stay bad. Its points are read on their own from then on (the split plan
 *   is remembered for the reader's lifetime, for both plans), so the failing block is not asked again.
 * - A value equal to one of the point's `sentinels` is `bad` with NO_DATA; a value that does not decode to
 *   a finite number is `bad` with DECODE_ERROR; a string point is `good` with `text` and a null `value`.
 * - Timestamps: `sourceTs` = `gatewayTs` = the clock when the block's answer (or failure) arrived; `requestTs`
 *   = when the poll sent its first request (poll latency = gatewayTs - requestTs).
 */
import type { Clock } from '../../gateway/clock.js';
import type { ModbusDeviceConfig, ModbusPointConfig } from '../device-config.js';
import type { ReadError, Reading } from '../reading.js';
import { planBlocks, planDevice, type DevicePlan, type ReadBlock } from './block-plan.js';
import { decode, decodeString, sentinelTest, toEngineering, type SentinelTest } from './codec.js';
import { badResponseError, decodeError, noDataError } from './errors.js';
import { ModbusRequestError, type ModbusRequester } from './requester.js';

/** Which points a poll reads: the fast ones, or all (fast and slow). */
export type PollKind = 'fast' | 'all';

export interface ReaderLogger {
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export interface ModbusDeviceReaderOptions {
  /** Stamps the readings and times the slow points (`dueKind` takes times of this clock). */
  clock: Clock;
  /** Told once when a block is split after an exception 2 or 3. */
  logger?: ReaderLogger;
}

/** Errors after which the device is not asked again in the same poll: it is not answering at all. */
const UNREACHABLE: ReadonlySet<ReadError['code']> = new Set(['TIMEOUT', 'CONNECTION_REFUSED', 'CONNECTION_LOST']);

/** Exceptions a gateway answers for a device it cannot reach: asking for the next block would cost the same again. */
function isGatewayUnreachable(error: ReadError): boolean {
  return error.code === 'MODBUS_EXCEPTION' && (error.exceptionCode === 10 || error.exceptionCode === 11);
}

/** Exceptions that say "this request is wrong for this device", which a smaller request can avoid. */
function isIllegalRequest(error: ReadError): boolean {
  return error.code === 'MODBUS_EXCEPTION' && (error.exceptionCode === 2 || error.exceptionCode === 3);
}

/**
 * Errors are shared by all the readings of a block (and of the rest of a poll); frozen so that one consumer
 * cannot alter another's. A requester's own object is copied rather than frozen under its feet.
 */
function frozen(error: ReadError): ReadError {
  return Object.isFrozen(error) ? error : Object.freeze({ ...error });
}

type BlockData = ArrayLike<number>;

/** State of one poll while its blocks are read. */
interface PollState {
  readings: Reading[];
  /** Point index -> position in `readings`, -1 for points this poll does not read. */
  slots: Int32Array;
  /** Set once the device stopped answering: the rest of the poll is marked with it. */
  unreachable: ReadError | null;
}

export class ModbusDeviceReader {
  readonly deviceId: string;
  private readonly device: ModbusDeviceConfig;
  private readonly clock: Clock;
  private readonly logger: ReaderLogger | undefined;
  private readonly sentinels: ReadonlyArray<SentinelTest | null>;
  /** NO_DATA error per point, built once. */
  private readonly noData: readonly ReadError[];
  private readonly fastSlots: Int32Array;
  private readonly allSlots: Int32Array;
  private readonly fastCount: number;
  /** Points the device refused to read in a block (exception 2 or 3): read on their own. */
  private readonly isolated = new Set<ModbusPointConfig>();
  private plans: DevicePlan;
  /** Clock time of the last `all` poll. */
  private lastAllAt: number | null = null;

  /**
   * @throws RangeError for a configuration that cannot be read: unit id, timeout, addresses, a string
   *   without length, a bit index outside 0..15, a coil or discrete input that is not `type: bit`, a
   *   sentinel the type cannot hold.
   */
  constructor(device: ModbusDeviceConfig, opts: ModbusDeviceReaderOptions) {
    const where = `device ${device.id}`;
    if (!Number.isInteger(device.unitId) || device.unitId < 0 || device.unitId > 255) throw new RangeError(`${where}: unitId must be 0..255`);
    if (!(device.timeoutMs > 0)) throw new RangeError(`${where}: timeoutMs must be > 0`);
    for (const point of device.points) {
      const bitPoint = point.function === 'coil' || point.function === 'discrete';
      if (bitPoint && point.type !== 'bit') throw new RangeError(`${where}, point ${point.name}: a ${point.function} is read as type bit`);
      if (!bitPoint && point.type === 'bit') {
        const bit = point.bitIndex ?? 0;
        if (!Number.isInteger(bit) || bit < 0 || bit > 15) throw new RangeError(`${where}, point ${point.name}: bitIndex must be 0..15`);
      }
    }
    this.deviceId = device.id;
    this.device = device;
    this.clock = opts.clock;
    this.logger = opts.logger;
    this.sentinels = device.points.map((point) => sentinelTest(point));
    this.noData = device.points.map((point) =>
      Object.freeze(noDataError(`${point.name}: the device reports no value (raw value is one of the point's sentinels)`)),
    );
    this.plans = planDevice(device);

    this.allSlots = Int32Array.from(device.points, (_, i) => i);
    this.fastSlots = new Int32Array(device.points.length).fill(-1);
    let fast = 0;
    device.points.forEach((point, i) => {
      if (point.priority !== 'slow') this.fastSlots[i] = fast++;
    });
    this.fastCount = fast;
  }

  /** The current requests of each kind of poll (after any split). */
  get plan(): DevicePlan {
    return this.plans;
  }

  /**
   * Which poll is due at `nowMs` (a time of the reader's clock): `all` for the first poll and whenever
   * `slowPollIntervalMs` has passed since the last `all` poll (less half a fast interval, so that timer
   * jitter does not push the slow points a whole fast interval late), else `fast`. Does not change state:
   * polling (or failing) `all` is what restarts the slow interval.
   */
  dueKind(nowMs: number): PollKind {
    if (this.lastAllAt === null) return 'all';
    const slack = this.device.pollIntervalMs / 2;
    return nowMs - this.lastAllAt >= this.device.slowPollIntervalMs - slack ? 'all' : 'fast';
  }

  /**
   * Reads the planned blocks of `kind` one after the other through `requester` (never two at once) and
   * resolves with one reading per polled point, in configured order. Never rejects for a device failure:
   * failures are bad readings. One poll at a time per reader.
   */
  async poll(requester: ModbusRequester, kind: PollKind): Promise<Reading[]> {
    const blocks = kind === 'fast' ? this.plans.fast : this.plans.all;
    if (kind === 'all') this.lastAllAt = this.clock.now();
    const state: PollState = {
      readings: new Array<Reading>(kind === 'fast' ? this.fastCount : this.device.points.length),
      slots: kind === 'fast' ? this.fastSlots : this.allSlots,
      unreachable: null,
    };
    const requestTs = this.clock.now();
    for (const block of blocks) await this.readBlock(requester, block, state, true);
    for (const reading of state.readings) if (reading !== undefined) reading.requestTs = requestTs;
    return state.readings;
  }

  /**
   * The readings of a poll that cannot take place (the device or its channel is known to be down, and the
   * driver is backing off): every point of `kind` bad with `error`, no request made.
   */
  fail(kind: PollKind, error: ReadError): Reading[] {
    if (kind === 'all') this.lastAllAt = this.clock.now();
    const ts = this.clock.now();
    const shared = frozen(error);
    const readings: Reading[] = [];
    for (const point of this.device.points) {
      if (kind === 'fast' && point.priority === 'slow') continue;
      readings.push(this.bad(point, ts, shared));
    }
    return readings;
  }

  private async readBlock(requester: ModbusRequester, block: ReadBlock, state: PollState, mayRetry: boolean): Promise<void> {
    if (state.unreachable !== null) {
      this.fillBad(block, state, state.unreachable);
      return;
    }
    let data: BlockData;
    try {
      const { unitId, timeoutMs } = this.device;
      data =
        block.function === 'holding' || block.function === 'input'
          ? await requester.readRegisters(unitId, block.function, block.address, block.count, timeoutMs)
          : await requester.readBits(unitId, block.function, block.address, block.count, timeoutMs);
    } catch (err) {
      // A requester must classify its failures; an unclassified one still becomes a bad reading, not a crash.
      const error =
        err instanceof ModbusRequestError
          ? err.readError
          : badResponseError(`unclassified requester failure: ${err instanceof Error ? err.message : String(err)}`);
      await this.failed(requester, block, state, mayRetry, frozen(error));
      return;
    }
    if (data.length >= block.count) {
      this.fillGood(block, state, data);
    } else {
      const error = badResponseError(`expected ${block.count} ${block.function} values, got ${data.length}`);
      await this.failed(requester, block, state, mayRetry, frozen(error));
    }
  }

  /** A block failed: stop the poll, split it, or mark its points. */
  private async failed(requester: ModbusRequester, block: ReadBlock, state: PollState, mayRetry: boolean, error: ReadError): Promise<void> {
    if (UNREACHABLE.has(error.code) || isGatewayUnreachable(error)) {
      state.unreachable = error;
      this.fillBad(block, state, error);
      return;
    }
    if (mayRetry && isIllegalRequest(error)) {
      const parts = this.split(block, error);
      if (parts.length > 1) {
        for (const part of parts) await this.readBlock(requester, part, state, false);
        return;
      }
    }
    this.fillBad(block, state, error);
  }

  /**
   * Remembers the block's points as to be read alone, re-plans, and returns the requests that read the
   * block's points one by one (one request when the block was a single point already).
   */
  private split(block: ReadBlock, error: ReadError): ReadBlock[] {
    let added = false;
    for (const { point } of block.points) {
      if (!this.isolated.has(point)) {
        this.isolated.add(point);
        added = true;
      }
    }
    if (!added) return [block];
    this.plans = planDevice(this.device, this.isolated);
    const parts = planBlocks(block.points, { maxGap: 0, maxRegisters: this.device.maxRegisters, isolate: this.isolated });
    if (parts.length > 1) {
      this.logger?.warn('modbus device refused a block read, reading its points one by one from now on', {
        deviceId: this.deviceId,
        function: block.function,
        address: block.address,
        count: block.count,
        error: error.message,
        requests: parts.length,
      });
    }
    return parts;
  }

  private fillBad(block: ReadBlock, state: PollState, error: ReadError): void {
    const ts = this.clock.now();
    const shared = frozen(error);
    for (const { index, point } of block.points) {
      const slot = state.slots[index] as number;
      if (slot >= 0) state.readings[slot] = this.bad(point, ts, shared);
    }
  }

  private fillGood(block: ReadBlock, state: PollState, data: BlockData): void {
    const ts = this.clock.now();
    for (const { index, point, offset } of block.points) {
      const slot = state.slots[index] as number;
      if (slot >= 0) state.readings[slot] = this.decodePoint(point, index, data, offset, ts);
    }
  }

  private decodePoint(point: ModbusPointConfig, index: number, data: BlockData, offset: number, ts: number): Reading {
    const deviceId = this.deviceId;
    const isSentinel = this.sentinels[index];
    if (isSentinel !== null && isSentinel !== undefined && isSentinel(data, offset)) {
      return this.bad(point, ts, this.noData[index] as ReadError);
    }
    let raw: number;
    if (point.function === 'coil' || point.function === 'discrete') {
      raw = (data[offset] as number) !== 0 ? 1 : 0;
    } else if (point.type === 'string') {
      const text = decodeString(data, offset, point.length ?? 0, point.wordOrder);
      return { deviceId, point: point.name, value: null, text, quality: 'good', sourceTs: ts, gatewayTs: ts };
    } else {
      raw = decode(data, offset, point.type, point.wordOrder, point.bitIndex ?? 0);
    }
    const value = toEngineering(raw, point);
    if (!Number.isFinite(value)) {
      return this.bad(point, ts, Object.freeze(decodeError(`${point.name}: ${point.type} at ${point.address} is not a finite number (${raw})`)));
    }
    return { deviceId, point: point.name, value, quality: 'good', sourceTs: ts, gatewayTs: ts };
  }

  private bad(point: ModbusPointConfig, ts: number, error: ReadError): Reading {
    return { deviceId: this.deviceId, point: point.name, value: null, quality: 'bad', sourceTs: ts, gatewayTs: ts, error };
  }
}
