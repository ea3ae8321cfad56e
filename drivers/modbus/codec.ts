/**
 * Register codec: turns Modbus registers into numbers and back, for the register types and word
 * orders of the site config, and applies a point's scale and offset.
 *
 * Word orders name the four bytes of a 32-bit value as they travel on the wire, A being the most
 * significant byte (see /work/shared/data/meter-maps.md):
 *   ABCD  registers [AB, CD]  big-endian, high word first (the Modbus norm)
 *   CDAB  registers [CD, AB]  word-swapped (low word first), e.g. Carlo Gavazzi EM24 int32
 *   BADC  registers [BA, DC]  bytes swapped within each word
 *   DCBA  registers [DC, BA]  fully little-endian
 * For 16-bit types ABCD and CDAB are the identity and BADC and DCBA swap the two bytes of the register.
 *
 * Integer types are assembled with plain arithmetic; only float32 needs a reinterpretation of the
 * bits, done through one small scratch view, so decoding a reading allocates nothing.
 */
import type { PointConfig, RegisterType, WordOrder } from '../../gateway/config/site-config.js';

/**
 * Reinterprets 32 bits as an IEEE-754 float and back. Module-private and only ever written and read
 * within one synchronous call, so sharing it cannot leak state between callers; it exists so that
 * decode() does not allocate a view per reading.
 */
const float32Scratch = new DataView(new ArrayBuffer(4));

/** Number of 16-bit registers a value of this type occupies. */
export function registerCount(type: RegisterType): 1 | 2 {
  switch (type) {
    case 'int16':
    case 'uint16':
      return 1;
    case 'int32':
    case 'uint32':
    case 'float32':
      return 2;
  }
}

function swapBytes(word: number): number {
  return ((word & 0xff) << 8) | ((word >>> 8) & 0xff);
}

/** Orders whose bytes are swapped inside each register. */
function bytesSwapped(order: WordOrder): boolean {
  return order === 'BADC' || order === 'DCBA';
}

/** Orders whose low word comes first. */
function wordsSwapped(order: WordOrder): boolean {
  return order === 'CDAB' || order === 'DCBA';
}

/**
 * Decodes the value of `type` starting at `registers[offset]`.
 *
 * float32 NaN and infinities are returned as they are; `toEngineering` passes them on and callers
 * must treat a non-finite result as a decode error (meters report NaN for quantities they do not
 * measure, which must never become a reading of 0 or a plausible number).
 *
 * @throws RangeError when the registers do not hold enough words at `offset`.
 */
export function decode(
  registers: Uint16Array | readonly number[],
  offset: number,
  type: RegisterType,
  order: WordOrder,
): number {
  const count = registerCount(type);
  if (!Number.isInteger(offset) || offset < 0 || offset + count > registers.length) {
    throw new RangeError(
      `cannot decode ${type} at register offset ${offset}: only ${registers.length} registers`,
    );
  }
  const swap = bytesSwapped(order);

  if (count === 1) {
    let word = (registers[offset] as number) & 0xffff;
    if (swap) word = swapBytes(word);
    // Shifting into the sign bit and back sign-extends the 16-bit value.
    return type === 'int16' ? (word << 16) >> 16 : word;
  }

  let first = (registers[offset] as number) & 0xffff;
  let second = (registers[offset + 1] as number) & 0xffff;
  if (swap) {
    first = swapBytes(first);
    second = swapBytes(second);
  }
  const high = wordsSwapped(order) ? second : first;
  const low = wordsSwapped(order) ? first : second;
  // `| 0` gives the signed 32-bit interpretation, `>>> 0` the unsigned one.
  const signed = (high << 16) | low;
  switch (type) {
    case 'int32':
      return signed;
    case 'uint32':
      return signed >>> 0;
    default:
      float32Scratch.setUint32(0, signed >>> 0);
      return float32Scratch.getFloat32(0);
  }
}

const INTEGER_RANGE: Record<Exclude<RegisterType, 'float32'>, readonly [number, number]> = {
  int16: [-0x8000, 0x7fff],
  uint16: [0, 0xffff],
  int32: [-0x80000000, 0x7fffffff],
  uint32: [0, 0xffffffff],
};

/**
 * Encodes `value` into `target[offset...]` without allocating (for simulators serving many values).
 * Integer types round to the nearest integer first (a value from `fromEngineering` is rarely exact);
 * a value outside the type's range is an error rather than a silent wrap, because a wrapped value
 * on a simulated meter would look like a real, wrong measurement.
 *
 * @throws RangeError on an out-of-range or non-finite integer value, or a too short target.
 */
export function encodeInto(
  value: number,
  type: RegisterType,
  order: WordOrder,
  target: Uint16Array | number[],
  offset: number,
): void {
  const count = registerCount(type);
  if (!Number.isInteger(offset) || offset < 0 || offset + count > target.length) {
    throw new RangeError(`cannot encode ${type} at register offset ${offset}: target holds ${target.length}`);
  }

  let bits: number;
  if (type === 'float32') {
    float32Scratch.setFloat32(0, value);
    bits = float32Scratch.getUint32(0);
  } else {
    const rounded = Math.round(value);
    const [min, max] = INTEGER_RANGE[type];
    if (!Number.isFinite(rounded) || rounded < min || rounded > max) {
      throw new RangeError(`${value} does not fit in ${type}`);
    }
    bits = rounded >>> 0;
  }

  const swap = bytesSwapped(order);
  if (count === 1) {
    const word = bits & 0xffff;
    target[offset] = swap ? swapBytes(word) : word;
    return;
  }
  let high = (bits >>> 16) & 0xffff;
  let low = bits & 0xffff;
  if (swap) {
    high = swapBytes(high);
    low = swapBytes(low);
  }
  if (wordsSwapped(order)) {
    target[offset] = low;
    target[offset + 1] = high;
  } else {
    target[offset] = high;
    target[offset + 1] = low;
  }
}

/** Encodes `value` as the registers it occupies on the wire (see `encodeInto` for the rules). */
export function encode(value: number, type: RegisterType, order: WordOrder): number[] {
  const registers = new Array<number>(registerCount(type)).fill(0);
  encodeInto(value, type, order, registers, 0);
  return registers;
}

/** The part of a point that turns a raw number into an engineering value. */
export type Scaling = Pick<PointConfig, 'scale' | 'offset'>;

/**
 * Engineering value = raw * scale + offset.
 *
 * A non-finite raw value (float32 NaN or infinity) gives a non-finite result: that is the flag.
 * Callers check `Number.isFinite` and report a DECODE_ERROR instead of a reading.
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
