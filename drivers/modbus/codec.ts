/**
 * Register codec: turns Modbus registers into numbers (and text) and back, for every register type and
 * word order of the device config, and applies a point's scale and offset.
 *
 * Word orders name the bytes of a value as they travel on the wire, A being the most significant byte
 * (drivers/device-config.ts, /work/shared/data/meter-maps.md):
 *   32-bit  ABCD [AB, CD]          big-endian, high word first (the Modbus norm)
 *           CDAB [CD, AB]          word-swapped (low word first), e.g. Carlo Gavazzi EM24 int32
 *           BADC [BA, DC]          bytes swapped within each word
 *           DCBA [DC, BA]          fully little-endian
 *   64-bit  ABCD [AB, CD, EF, GH]  CDAB [GH, EF, CD, AB]  BADC [BA, DC, FE, HG]  DCBA [HG, FE, DC, BA]
 *   16-bit  ABCD and CDAB are the identity, BADC and DCBA swap the two bytes (also for `bit`).
 * So "CD..AB" means "words in reverse order" and "BA.." means "bytes swapped inside each word", whatever
 * the width. Strings are character sequences, not numbers: their registers are never reordered, and
 * ABCD/CDAB take each register's high byte first, BADC/DCBA its low byte first.
 *
 * Hot path: `decode` puts the register bytes into one module-level 8-byte scratch view in canonical
 * big-endian order and reads the value from there, so decoding a number allocates nothing. int64/uint64
 * are assembled as high * 2^32 + low: the product is exact and the one addition rounds once to nearest,
 * which is exactly `Number(bigint)` (a test checks the two agree); `decodeBigInt` gives the exact value.
 * A Number holds integers exactly only up to 2^53: larger 64-bit values (energy counters in Wh never get
 * there; sentinels like 0x7FFFFFFFFFFFFFFF do) lose their low bits, which is why sentinels are compared
 * on the raw words (`sentinelTest`), never on the decoded Number.
 */
import type { ModbusPointConfig, RegisterType, WordOrder } from '../device-config.js';

/** The types that decode to a number; `string` decodes to text (`decodeString`). */
export type NumericRegisterType = Exclude<RegisterType, 'string'>;

/**
 * Holds the bytes of one value in big-endian order (A at byte 0) between loading and reading it.
 * Module-private and only used within one synchronous call, so sharing it cannot leak state between callers.
 */
const scratch = new DataView(new ArrayBuffer(8));

const TWO_POW_32 = 0x1_0000_0000;

/**
 * Number of 16-bit registers a value of this type occupies: 1 (int16, uint16, bit), 2 (32-bit), 4 (64-bit).
 *
 * @throws RangeError for `string`, whose size is the point's `length` (use `pointRegisterCount`).
 */
export function registerCount(type: RegisterType): number {
  switch (type) {
    case 'int16':
    case 'uint16':
    case 'bit':
      return 1;
    case 'int32':
    case 'uint32':
    case 'float32':
      return 2;
    case 'int64':
    case 'uint64':
    case 'float64':
      return 4;
    case 'string':
      throw new RangeError('a string has no fixed register count: use pointRegisterCount(point)');
  }
}

/**
 * Number of registers (for coils and discrete inputs: bits) a point occupies on the wire: 1 for a coil or
 * discrete input, `length` for a string, otherwise the type's size.
 *
 * @throws RangeError for a string without a positive integer `length`.
 */
export function pointRegisterCount(point: Pick<ModbusPointConfig, 'type' | 'length' | 'function'>): number {
  if (point.function === 'coil' || point.function === 'discrete') return 1;
  if (point.type === 'string') {
    const length = point.length;
    if (length === undefined || !Number.isInteger(length) || length < 1) {
      throw new RangeError(`a string point needs a positive integer length (registers), got ${String(length)}`);
    }
    return length;
  }
  return registerCount(point.type);
}

function swapBytes(word: number): number {
  return ((word & 0xff) << 8) | ((word >>> 8) & 0xff);
}

/** Orders whose bytes are swapped inside each register. */
function bytesSwapped(order: WordOrder): boolean {
  return order === 'BADC' || order === 'DCBA';
}

/** Orders whose registers come least significant first. */
function wordsReversed(order: WordOrder): boolean {
  return order === 'CDAB' || order === 'DCBA';
}

function checkRange(length: number, offset: number, count: number, what: string): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + count > length) {
    throw new RangeError(`cannot ${what} at register offset ${offset}: only ${length} registers`);
  }
}

/** Copies `count` registers from `offset` into the scratch view, most significant byte first. */
function load(registers: ArrayLike<number>, offset: number, count: number, order: WordOrder): void {
  const swap = bytesSwapped(order);
  const reverse = wordsReversed(order);
  for (let i = 0; i < count; i++) {
    let word = (registers[offset + i] as number) & 0xffff;
    if (swap) word = swapBytes(word);
    scratch.setUint16((reverse ? count - 1 - i : i) * 2, word);
  }
}

/** Writes the first `count` registers' worth of the scratch view to `target` in wire order. */
function store(target: Uint16Array | number[], offset: number, count: number, order: WordOrder): void {
  const swap = bytesSwapped(order);
  const reverse = wordsReversed(order);
  for (let i = 0; i < count; i++) {
    const word = scratch.getUint16((reverse ? count - 1 - i : i) * 2);
    target[offset + i] = swap ? swapBytes(word) : word;
  }
}

/**
 * Decodes the value of `type` starting at `registers[offset]`, allocation-free.
 *
 * - `bit`: bit `bitIndex` (0 = least significant) of the register after the order's byte swap, 0 or 1.
 * - int64/uint64: the nearest Number (exact up to 2^53; see the module comment and `decodeBigInt`).
 * - float32/float64 NaN and infinities are returned as they are: callers treat a non-finite result as a
 *   decode error (meters report NaN for quantities they do not measure, which must never become a 0).
 *
 * @throws RangeError when the registers do not hold enough words at `offset`, for a bad `bitIndex`, or
 *   for `string` (use `decodeString`).
 */
export function decode(
  registers: ArrayLike<number>,
  offset: number,
  type: RegisterType,
  order: WordOrder,
  bitIndex = 0,
): number {
  // registerCount throws for 'string': text goes through decodeString.
  const count = registerCount(type);
  checkRange(registers.length, offset, count, `decode ${type}`);
  load(registers, offset, count, order);
  switch (type) {
    case 'int16':
      return scratch.getInt16(0);
    case 'uint16':
      return scratch.getUint16(0);
    case 'bit':
      if (!Number.isInteger(bitIndex) || bitIndex < 0 || bitIndex > 15) throw new RangeError(`bitIndex ${bitIndex} is not 0..15`);
      return (scratch.getUint16(0) >>> bitIndex) & 1;
    case 'int32':
      return scratch.getInt32(0);
    case 'uint32':
      return scratch.getUint32(0);
    case 'float32':
      return scratch.getFloat32(0);
    case 'int64':
      return scratch.getInt32(0) * TWO_POW_32 + scratch.getUint32(4);
    case 'uint64':
      return scratch.getUint32(0) * TWO_POW_32 + scratch.getUint32(4);
    case 'float64':
      return scratch.getFloat64(0);
    case 'string':
      throw new RangeError('use decodeString for string points');
  }
}

/**
 * The exact value of an int64 or uint64 at `registers[offset]` (allocates a BigInt; not for the hot path).
 *
 * @throws RangeError when the registers do not hold four words at `offset`.
 */
export function decodeBigInt(registers: ArrayLike<number>, offset: number, type: 'int64' | 'uint64', order: WordOrder): bigint {
  checkRange(registers.length, offset, 4, `decode ${type}`);
  load(registers, offset, 4, order);
  return type === 'int64' ? scratch.getBigInt64(0) : scratch.getBigUint64(0);
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * Decodes a string point: `length` registers, two bytes each (see the module comment for the byte order),
 * read as UTF-8 (ASCII being its subset; invalid sequences become U+FFFD). Everything from the first NUL
 * on is dropped (a C string in a fixed field), then trailing spaces (a space-padded field).
 *
 * @throws RangeError when the registers do not hold `length` words at `offset`.
 */
export function decodeString(registers: ArrayLike<number>, offset: number, length: number, order: WordOrder): string {
  checkRange(registers.length, offset, length, 'decode string');
  const lowFirst = bytesSwapped(order);
  const bytes = new Uint8Array(length * 2);
  let end = bytes.length;
  for (let i = 0; i < length; i++) {
    const word = (registers[offset + i] as number) & 0xffff;
    bytes[i * 2] = lowFirst ? word & 0xff : word >>> 8;
    bytes[i * 2 + 1] = lowFirst ? word >>> 8 : word & 0xff;
  }
  const nul = bytes.indexOf(0);
  if (nul >= 0) end = nul;
  while (end > 0 && bytes[end - 1] === 0x20) end--;
  return utf8.decode(bytes.subarray(0, end));
}

/** Inclusive integer ranges of the types `encodeInto` rounds to (64-bit ones as BigInt). */
const INTEGER_RANGE = {
  int16: [-0x8000, 0x7fff],
  uint16: [0, 0xffff],
  int32: [-0x8000_0000, 0x7fff_ffff],
  uint32: [0, 0xffff_ffff],
} as const;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/**
 * Encodes `value` into `target[offset...]` without allocating for 16/32-bit and float types (for simulators
 * serving many values). Integer types round to the nearest integer first (a value from `fromEngineering`
 * is rarely exact); a value outside the type's range is an error rather than a silent wrap, because a
 * wrapped value on a simulated meter would look like a real, wrong measurement. A `bit` sets bit `bitIndex`
 * of the register to `value !== 0` and clears the others (a simulator serving several bits of one register
 * ORs the results). int64/uint64 take a Number (exact up to 2^53) or a bigint.
 *
 * @throws RangeError on an out-of-range or non-finite integer value, a too short target, or for `string`
 *   (use `encodeString`).
 */
export function encodeInto(
  value: number | bigint,
  type: RegisterType,
  order: WordOrder,
  target: Uint16Array | number[],
  offset: number,
  bitIndex = 0,
): void {
  if (type === 'string') throw new RangeError('use encodeString for string points');
  const count = registerCount(type);
  checkRange(target.length, offset, count, `encode ${type}`);
  switch (type) {
    case 'float32':
      scratch.setFloat32(0, Number(value));
      break;
    case 'float64':
      scratch.setFloat64(0, Number(value));
      break;
    case 'bit':
      if (!Number.isInteger(bitIndex) || bitIndex < 0 || bitIndex > 15) throw new RangeError(`bitIndex ${bitIndex} is not 0..15`);
      scratch.setUint16(0, Number(value) !== 0 ? 1 << bitIndex : 0);
      break;
    case 'int64':
    case 'uint64': {
      const exact = toBigInt(value, type);
      if (type === 'int64' ? exact < INT64_MIN || exact > INT64_MAX : exact < 0n || exact > UINT64_MAX) {
        throw new RangeError(`${value} does not fit in ${type}`);
      }
      scratch.setBigUint64(0, BigInt.asUintN(64, exact));
      break;
    }
    default: {
      const rounded = Math.round(Number(value));
      const [min, max] = INTEGER_RANGE[type];
      if (!Number.isFinite(rounded) || rounded < min || rounded > max) throw new RangeError(`${value} does not fit in ${type}`);
      if (count === 1) scratch.setUint16(0, rounded & 0xffff);
      else scratch.setUint32(0, rounded >>> 0);
    }
  }
  store(target, offset, count, order);
}

function toBigInt(value: number | bigint, type: string): bigint {
  if (typeof value === 'bigint') return value;
  const rounded = Math.round(value);
  if (!Number.isFinite(rounded)) throw new RangeError(`${value} does not fit in ${type}`);
  return BigInt(rounded);
}

/** Encodes `value` as the registers it occupies on the wire (see `encodeInto` for the rules; not for `string`). */
export function encode(value: number | bigint, type: RegisterType, order: WordOrder, bitIndex = 0): number[] {
  const registers = new Array<number>(registerCount(type)).fill(0);
  encodeInto(value, type, order, registers, 0, bitIndex);
  return registers;
}

const utf8Encoder = new TextEncoder();

/**
 * Encodes `text` as UTF-8 into `length` registers, NUL-padded (the inverse of `decodeString`).
 *
 * @throws RangeError when the text needs more than `length * 2` bytes.
 */
export function encodeString(text: string, length: number, order: WordOrder): number[] {
  const bytes = utf8Encoder.encode(text);
  if (bytes.length > length * 2) throw new RangeError(`"${text}" needs ${bytes.length} bytes, ${length} registers hold ${length * 2}`);
  const lowFirst = bytesSwapped(order);
  const registers = new Array<number>(length).fill(0);
  for (let i = 0; i < length; i++) {
    const first = bytes[i * 2] ?? 0;
    const second = bytes[i * 2 + 1] ?? 0;
    registers[i] = lowFirst ? (second << 8) | first : (first << 8) | second;
  }
  return registers;
}

/**
 * Tells whether the raw value at `registers[offset]` is one of the point's sentinels ("no value").
 *
 * Compared on the exact raw value: 64-bit types compare the two 32-bit halves, so 0x7FFFFFFFFFFFFFFF does
 * not also match its neighbours, as it would after rounding to a Number. A sentinel from a YAML or JSON
 * number above 2^53 has itself been rounded: one that rounded to just outside the type's range (2^63 for
 * int64, 2^64 for uint64, what 0x7FFFFFFFFFFFFFFF and 0xFFFFFFFFFFFFFFFF become) is taken as the type's
 * maximum; other values beyond 2^53 are compared as the Number they are (write them exactly, e.g.
 * 0x8000000000000000, or not at all).
 */
export type SentinelTest = (registers: ArrayLike<number>, offset: number) => boolean;

/**
 * Builds the sentinel test of a point, or null when it has no sentinels (the common case: no cost).
 * Strings and coils/discrete inputs never have sentinels here (a coil's raw value is 0 or 1).
 *
 * @throws RangeError for a sentinel that is not a number the point's type can hold.
 */
export function sentinelTest(point: Pick<ModbusPointConfig, 'name' | 'type' | 'wordOrder' | 'bitIndex' | 'sentinels' | 'function'>): SentinelTest | null {
  const sentinels = point.sentinels;
  if (sentinels === undefined || sentinels.length === 0) return null;
  const { type, wordOrder } = point;
  if (type === 'string') throw new RangeError(`point ${point.name}: a string point cannot have sentinels`);
  for (const s of sentinels) {
    if (typeof s !== 'number' || Number.isNaN(s)) throw new RangeError(`point ${point.name}: sentinel ${String(s)} is not a number`);
  }
  if (type === 'int64' || type === 'uint64') {
    const halves = sentinels.map((s) => {
      const exact = sentinelBigInt(s, type, point.name);
      const bits = BigInt.asUintN(64, exact);
      return [Number(bits >> 32n), Number(bits & 0xffff_ffffn)] as const;
    });
    return (registers, offset) => {
      load(registers, offset, 4, wordOrder);
      const high = scratch.getUint32(0);
      const low = scratch.getUint32(4);
      for (const [h, l] of halves) if (h === high && l === low) return true;
      return false;
    };
  }
  const bitIndex = point.bitIndex ?? 0;
  const values = [...sentinels];
  if (point.function === 'coil' || point.function === 'discrete') {
    return (bits, offset) => values.includes((bits[offset] as number) !== 0 ? 1 : 0);
  }
  return (registers, offset) => {
    const raw = decode(registers, offset, type, wordOrder, bitIndex);
    for (const s of values) if (s === raw) return true;
    return false;
  };
}

function sentinelBigInt(sentinel: number, type: 'int64' | 'uint64', name: string): bigint {
  if (!Number.isInteger(sentinel)) throw new RangeError(`point ${name}: sentinel ${sentinel} of a ${type} is not an integer`);
  const exact = BigInt(sentinel);
  const [min, max] = type === 'int64' ? [INT64_MIN, INT64_MAX] : [0n, UINT64_MAX];
  // 0x7FFFFFFFFFFFFFFF as a double is 2^63, 0xFFFFFFFFFFFFFFFF is 2^64: one past the maximum.
  if (exact === max + 1n) return max;
  if (exact < min || exact > max) throw new RangeError(`point ${name}: sentinel ${sentinel} does not fit in ${type}`);
  return exact;
}

/** The part of a point that turns a raw number into an engineering value. */
export type Scaling = Pick<ModbusPointConfig, 'scale' | 'offset'>;

/**
 * Engineering value = raw * scale + offset.
 *
 * A non-finite raw value (a float NaN or infinity) gives a non-finite result: that is the flag. Callers
 * check `Number.isFinite` and report a DECODE_ERROR instead of a reading.
 */
export function toEngineering(raw: number, point: Scaling): number {
  return raw * point.scale + point.offset;
}

/**
 * The raw number that `toEngineering` maps to `value`: (value - offset) / scale.
 *
 * @throws RangeError when scale is 0 (every raw value would give the same engineering value).
 */
export function fromEngineering(value: number, point: Scaling): number {
  if (point.scale === 0) throw new RangeError('scale 0 cannot be inverted');
  return (value - point.offset) / point.scale;
}
