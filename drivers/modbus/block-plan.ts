/**
 * Read planning: groups a device's points into as few read requests as the device allows.
 *
 * Every request costs a round trip (and on an RS-485 bus, a full line turnaround), so neighbouring points
 * of one function code are read together. Reading a few unused registers between points is cheaper than
 * another request, but only up to the device's `maxGap`: a wide gap may contain addresses the device does
 * not implement, and one illegal address fails the whole request (the device reader then splits the
 * block, see device-reader.ts). Same approach as Telegraf's request optimizer (plugins/inputs/modbus).
 *
 * Units: for holding and input registers, addresses, gaps and counts are registers; for coils and
 * discrete inputs they are bits.
 */
import type { ModbusDeviceConfig, ModbusPointConfig, RegisterFunction } from '../device-config.js';
import { pointRegisterCount } from './codec.js';

/** Largest register count of one FC 3 / FC 4 request (Modbus Application Protocol v1.1b3, 6.3 and 6.4). */
export const MAX_REGISTERS_PER_READ = 125;
/** Largest bit count of one FC 1 / FC 2 request (same, 6.1 and 6.2). */
export const MAX_BITS_PER_READ = 2000;
/** Unused registers tolerated between two points when the caller does not say. */
export const DEFAULT_MAX_GAP = 8;

/** Functions in the order their blocks come out of a plan. */
const FUNCTIONS: readonly RegisterFunction[] = ['holding', 'input', 'coil', 'discrete'];

export interface PlannedPoint {
  /** Index of the point in the device's point list (readings keep the configured order). */
  index: number;
  point: ModbusPointConfig;
  /** Offset of the point's first register (bit) inside the block's response. */
  offset: number;
}

export interface ReadBlock {
  function: RegisterFunction;
  /** First register (bit) address of the request. */
  address: number;
  /** Number of registers (bits) requested. */
  count: number;
  points: PlannedPoint[];
}

export interface BlockPlanOptions {
  /** Unused registers (bits) bridged between two points; default 8, 0 = only adjacent points share. */
  maxGap?: number;
  /**
   * Largest request; default 125. Register requests are capped at 125 and bit requests at 2000 whatever
   * is given (the device config's `maxRegisters` counts bits for coils).
   */
  maxRegisters?: number;
  /**
   * Points that must be read alone (the device answered exception 2 or 3 to a block holding them): each
   * gets a request of exactly its own registers, shared only with points of exactly the same span.
   */
  isolate?: ReadonlySet<ModbusPointConfig>;
}

/** An entry of a point list: the point and its index in the device's list. */
export interface IndexedPoint {
  index: number;
  point: ModbusPointConfig;
}

/** The two plans of a device: `fast` (the fast points only) and `all` (fast and slow together). */
export interface DevicePlan {
  fast: readonly ReadBlock[];
  all: readonly ReadBlock[];
}

function checkOptions(maxGap: number, maxRegisters: number): void {
  if (!Number.isInteger(maxGap) || maxGap < 0) throw new RangeError(`maxGap must be an integer >= 0, got ${maxGap}`);
  if (!Number.isInteger(maxRegisters) || maxRegisters < 1) throw new RangeError(`maxRegisters must be an integer >= 1, got ${maxRegisters}`);
}

/**
 * Plans the reads for `points` (a point list, or entries carrying their index in the device's list): per
 * function, sorted by address, a point joins the current block when at most `maxGap` unused registers
 * separate it from the block's end and the block stays within the size limit. Overlapping points share
 * registers (several bits of one register are one register). Blocks come out per function (holding,
 * input, coil, discrete), each in address order.
 *
 * @throws RangeError for a point that cannot be read at all (address out of the 16-bit range, a string
 *   without length, a point larger than the size limit) or invalid options.
 */
export function planBlocks(
  points: readonly ModbusPointConfig[] | readonly IndexedPoint[],
  options: BlockPlanOptions = {},
): ReadBlock[] {
  const maxGap = options.maxGap ?? DEFAULT_MAX_GAP;
  const maxRegisters = options.maxRegisters ?? MAX_REGISTERS_PER_READ;
  checkOptions(maxGap, maxRegisters);
  const isolate = options.isolate;

  const indexed = points.map((entry, i) => {
    const { index, point } = 'point' in entry ? entry : { index: i, point: entry };
    const count = pointRegisterCount(point);
    const limit = limitFor(point.function, maxRegisters);
    if (!Number.isInteger(point.address) || point.address < 0 || point.address + count > 0x10000) {
      throw new RangeError(`point ${point.name}: address ${point.address} is out of range`);
    }
    if (count > limit) throw new RangeError(`point ${point.name}: ${count} registers do not fit in one request of ${limit}`);
    return { point, index, count, alone: isolate?.has(point) === true };
  });

  const blocks: ReadBlock[] = [];
  for (const fn of FUNCTIONS) {
    const limit = limitFor(fn, maxRegisters);
    const sorted = indexed
      .filter((p) => p.point.function === fn)
      .sort((a, b) => a.point.address - b.point.address || a.index - b.index);

    let current: ReadBlock | null = null;
    let currentAlone = false;
    for (const { point, index, count, alone } of sorted) {
      const end = point.address + count;
      if (current !== null) {
        if (alone || currentAlone) {
          // An isolated point shares only with points of exactly its span.
          if (alone && currentAlone && current.address === point.address && current.count === count) {
            current.points.push({ index, point, offset: 0 });
            continue;
          }
        } else {
          const blockEnd = current.address + current.count;
          const gap = point.address - blockEnd;
          const mergedCount = Math.max(blockEnd, end) - current.address;
          if (gap <= maxGap && mergedCount <= limit) {
            current.count = mergedCount;
            current.points.push({ index, point, offset: point.address - current.address });
            continue;
          }
        }
      }
      current = { function: fn, address: point.address, count, points: [{ index, point, offset: 0 }] };
      currentAlone = alone;
      blocks.push(current);
    }
  }
  return blocks;
}

function limitFor(fn: RegisterFunction, maxRegisters: number): number {
  return Math.min(maxRegisters, fn === 'coil' || fn === 'discrete' ? MAX_BITS_PER_READ : MAX_REGISTERS_PER_READ);
}

/**
 * The device's two plans with its own `maxGap` and `maxRegisters`: `fast` reads the fast points, `all`
 * the fast and slow ones together (slow points are read every `slowPollIntervalMs`, in the same poll as
 * the fast ones, so they share requests with them where the map allows).
 */
export function planDevice(
  device: Pick<ModbusDeviceConfig, 'points' | 'maxGap' | 'maxRegisters'>,
  isolate?: ReadonlySet<ModbusPointConfig>,
): DevicePlan {
  const options: BlockPlanOptions = { maxGap: device.maxGap, maxRegisters: device.maxRegisters };
  if (isolate !== undefined) options.isolate = isolate;
  const entries = device.points.map((point, index) => ({ index, point }));
  return {
    fast: planBlocks(
      entries.filter((e) => e.point.priority !== 'slow'),
      options,
    ),
    all: planBlocks(entries, options),
  };
}

