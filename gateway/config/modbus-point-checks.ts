/**
 * Checks of one Modbus point that JSON Schema cannot make: those that depend on the address base and on
 * the register codec (how many registers a type spans, whether a sentinel fits the type). Shared by
 * site points and template points, so both get the same messages.
 */
import { pointRegisterCount, sentinelTest } from '../../drivers/modbus/codec.js';
import type { ModbusPointConfig } from './site-config.js';
import type { ConfigIssue } from './site-config-error.js';
import type { AddressBase } from './site-document.js';

/** Raw values each type can hold: a sentinel outside them would silently never match. 64-bit ones: the codec checks. */
const RAW_RANGE: Partial<Record<ModbusPointConfig['type'], readonly [number, number]>> = {
  bit: [0, 1],
  int16: [-0x8000, 0x7fff],
  uint16: [0, 0xffff],
  int32: [-0x8000_0000, 0x7fff_ffff],
  uint32: [0, 0xffff_ffff],
};

/** One past the last register address (Modbus addresses are 16-bit). */
const ADDRESS_SPACE = 0x10000;

/**
 * The point with its wire address: `written - base`. Returns the same object when the base is 0, so
 * shared point lists stay shared.
 */
export function toWireAddress<T extends { address: number }>(point: T, base: AddressBase): T {
  return base === 0 ? point : { ...point, address: point.address - base };
}

/**
 * Issues of a point whose `address` is already the wire address; `written` is the address as written
 * and `path` the point's path (issues name `${path}.address`, `${path}.sentinels`).
 */
export function checkWirePoint(point: ModbusPointConfig, written: number, base: AddressBase, path: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (point.address < 0) {
    issues.push({
      path: `${path}.address`,
      message: `register ${written} does not exist with addressBase ${base} (registers are numbered from ${base})`,
      value: written,
    });
  } else {
    const count = pointRegisterCount(point);
    if (point.address + count > ADDRESS_SPACE) {
      const where = count === 1 ? `is wire address ${point.address}` : `spans wire addresses ${point.address}..${point.address + count - 1}`;
      issues.push({ path: `${path}.address`, message: `the point ${where}, past the last Modbus address 65535`, value: written });
    }
  }
  issues.push(...checkSentinelRange(point, path));
  try {
    sentinelTest(point);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    // The codec names the point; the path already does.
    issues.push({ path: `${path}.sentinels`, message: error.message.replace(/^point [^:]*: /, '') });
  }
  return issues;
}

function checkSentinelRange(point: ModbusPointConfig, path: string): ConfigIssue[] {
  const bits = point.function === 'coil' || point.function === 'discrete';
  const type = bits ? 'bit' : point.type;
  const range = RAW_RANGE[type];
  if (range === undefined) return [];
  const [min, max] = range;
  const article = type.startsWith('int') ? 'an' : 'a';
  return (point.sentinels ?? [])
    .filter((s) => !Number.isInteger(s) || s < min || s > max)
    .map((s) => ({ path: `${path}.sentinels`, message: `sentinel ${s} can never match: ${article} ${type} holds ${min}..${max}` }));
}
