/**
 * Read planning: groups a device's points into as few contiguous register reads as reasonable.
 *
 * Every request costs a round trip (and on a serial device server, a full bus turnaround), so
 * neighbouring points are read together. Reading a few unused registers between points is cheaper
 * than another request, but only up to a small gap: a wide gap may contain addresses the device does
 * not implement, and one illegal address fails the whole request.
 */
import type { PointConfig, RegisterFunction } from '../../gateway/config/site-config.js';
import { registerCount } from './codec.js';

/** Largest register count of one FC 3 / FC 4 request allowed by the Modbus specification. */
export const MAX_REGISTERS_PER_READ = 125;
/** Unused registers tolerated between two points read in one request. */
export const DEFAULT_MAX_GAP = 8;

export interface PlannedPoint {
  /** Index of the point in the device's point list (readings keep the configured order). */
  index: number;
  point: PointConfig;
  /** Register offset of the point inside the block's response. */
  offset: number;
}

export interface ReadBlock {
  function: RegisterFunction;
  /** First register address of the request. */
  address: number;
  /** Number of registers requested. */
  count: number;
  points: PlannedPoint[];
}

export interface BlockPlanOptions {
  maxGap?: number;
  maxRegisters?: number;
}

/**
 * Plans the reads for `points`: per function, sorted by address, a point joins the current block
 * when at most `maxGap` registers separate it from the block's end and the block stays within
 * `maxRegisters`. Overlapping points share registers. Blocks come out holding registers first, then
 * input registers, each in address order.
 *
 * @throws RangeError for a point that cannot be read at all (address out of the 16-bit range).
 */
export function planBlocks(points: readonly PointConfig[], options: BlockPlanOptions = {}): ReadBlock[] {
  const maxGap = options.maxGap ?? DEFAULT_MAX_GAP;
  const maxRegisters = options.maxRegisters ?? MAX_REGISTERS_PER_READ;

  const indexed = points.map((point, index) => {
    const count = registerCount(point.type);
    if (!Number.isInteger(point.address) || point.address < 0 || point.address + count > 0x10000) {
      throw new RangeError(`point ${point.name}: register address ${point.address} is out of range`);
    }
    return { point, index, count };
  });

  const blocks: ReadBlock[] = [];
  for (const fn of ['holding', 'input'] as const) {
    const sorted = indexed
      .filter((p) => p.point.function === fn)
      .sort((a, b) => a.point.address - b.point.address || a.index - b.index);

    let current: ReadBlock | null = null;
    for (const { point, index, count } of sorted) {
      const end = point.address + count;
      if (current !== null) {
        const blockEnd = current.address + current.count;
        const gap = point.address - blockEnd;
        const mergedCount = Math.max(blockEnd, end) - current.address;
        if (gap <= maxGap && mergedCount <= maxRegisters) {
          current.count = mergedCount;
          current.points.push({ index, point, offset: point.address - current.address });
          continue;
        }
      }
      current = { function: fn, address: point.address, count, points: [{ index, point, offset: 0 }] };
      blocks.push(current);
    }
  }
  return blocks;
}
