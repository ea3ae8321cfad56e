import t from 'tap';
import type { ModbusPointConfig, RegisterType, WordOrder } from '../../drivers/device-config.js';
import {
  decode,
  decodeBigInt,
  decodeString,
  encode,
  encodeInto,
  encodeString,
  fromEngineering,
  pointRegisterCount,
  registerCount,
  sentinelTest,
  toEngineering,
} from '../../drivers/modbus/codec.js';

const ORDERS: readonly WordOrder[] = ['ABCD', 'CDAB', 'BADC', 'DCBA'];

/** Known patterns, written out by hand: value -> registers on the wire for each order. */
interface Case {
  type: Exclude<RegisterType, 'string' | 'bit'>;
  value: number;
  note: string;
  wire: Record<WordOrder, number[]>;
}

const CASES: Case[] = [
  // 16-bit: ABCD/CDAB are the identity, BADC/DCBA swap the two bytes.
  { type: 'int16', value: -1, note: '0xFFFF', wire: { ABCD: [0xffff], CDAB: [0xffff], BADC: [0xffff], DCBA: [0xffff] } },
  { type: 'int16', value: -2, note: '0xFFFE', wire: { ABCD: [0xfffe], CDAB: [0xfffe], BADC: [0xfeff], DCBA: [0xfeff] } },
  { type: 'int16', value: -32768, note: '0x8000', wire: { ABCD: [0x8000], CDAB: [0x8000], BADC: [0x0080], DCBA: [0x0080] } },
  { type: 'int16', value: 32767, note: '0x7FFF', wire: { ABCD: [0x7fff], CDAB: [0x7fff], BADC: [0xff7f], DCBA: [0xff7f] } },
  { type: 'uint16', value: 0x1234, note: '4660', wire: { ABCD: [0x1234], CDAB: [0x1234], BADC: [0x3412], DCBA: [0x3412] } },
  { type: 'uint16', value: 65535, note: '0xFFFF', wire: { ABCD: [0xffff], CDAB: [0xffff], BADC: [0xffff], DCBA: [0xffff] } },
  { type: 'uint16', value: 0xff00, note: '65280', wire: { ABCD: [0xff00], CDAB: [0xff00], BADC: [0x00ff], DCBA: [0x00ff] } },
  // 32-bit integers.
  {
    type: 'int32',
    value: -2,
    note: '0xFFFFFFFE',
    wire: { ABCD: [0xffff, 0xfffe], CDAB: [0xfffe, 0xffff], BADC: [0xffff, 0xfeff], DCBA: [0xfeff, 0xffff] },
  },
  {
    type: 'int32',
    value: 0x12345678,
    note: '305419896',
    wire: { ABCD: [0x1234, 0x5678], CDAB: [0x5678, 0x1234], BADC: [0x3412, 0x7856], DCBA: [0x7856, 0x3412] },
  },
  {
    type: 'int32',
    value: -559038737,
    note: '0xDEADBEEF',
    wire: { ABCD: [0xdead, 0xbeef], CDAB: [0xbeef, 0xdead], BADC: [0xadde, 0xefbe], DCBA: [0xefbe, 0xadde] },
  },
  {
    type: 'int32',
    value: -2147483648,
    note: '0x80000000',
    wire: { ABCD: [0x8000, 0x0000], CDAB: [0x0000, 0x8000], BADC: [0x0080, 0x0000], DCBA: [0x0000, 0x0080] },
  },
  {
    type: 'uint32',
    value: 0x12345678,
    note: '305419896',
    wire: { ABCD: [0x1234, 0x5678], CDAB: [0x5678, 0x1234], BADC: [0x3412, 0x7856], DCBA: [0x7856, 0x3412] },
  },
  {
    type: 'uint32',
    value: 3735928559,
    note: '0xDEADBEEF',
    wire: { ABCD: [0xdead, 0xbeef], CDAB: [0xbeef, 0xdead], BADC: [0xadde, 0xefbe], DCBA: [0xefbe, 0xadde] },
  },
  {
    type: 'uint32',
    value: 4294967295,
    note: '0xFFFFFFFF',
    wire: { ABCD: [0xffff, 0xffff], CDAB: [0xffff, 0xffff], BADC: [0xffff, 0xffff], DCBA: [0xffff, 0xffff] },
  },
  {
    type: 'uint32',
    value: 65536,
    note: '0x00010000',
    wire: { ABCD: [0x0001, 0x0000], CDAB: [0x0000, 0x0001], BADC: [0x0100, 0x0000], DCBA: [0x0000, 0x0100] },
  },
  // IEEE-754 single precision.
  {
    type: 'float32',
    value: 230.5,
    note: '0x43668000',
    wire: { ABCD: [0x4366, 0x8000], CDAB: [0x8000, 0x4366], BADC: [0x6643, 0x0080], DCBA: [0x0080, 0x6643] },
  },
  {
    type: 'float32',
    value: -1.5,
    note: '0xBFC00000',
    wire: { ABCD: [0xbfc0, 0x0000], CDAB: [0x0000, 0xbfc0], BADC: [0xc0bf, 0x0000], DCBA: [0x0000, 0xc0bf] },
  },
  {
    type: 'float32',
    value: 2301,
    note: '0x450FD000 (a DTSU666 voltage in 0.1 V)',
    wire: { ABCD: [0x450f, 0xd000], CDAB: [0xd000, 0x450f], BADC: [0x0f45, 0x00d0], DCBA: [0x00d0, 0x0f45] },
  },
  {
    type: 'float32',
    value: 0.1,
    note: '0x3DCCCCCD (0.1 rounded to single precision)',
    wire: { ABCD: [0x3dcc, 0xcccd], CDAB: [0xcccd, 0x3dcc], BADC: [0xcc3d, 0xcdcc], DCBA: [0xcdcc, 0xcc3d] },
  },
  // 64-bit: ABCD = ABCDEFGH, CDAB = GHEFCDAB (words reversed), BADC = BADCFEHG, DCBA = HGFEDCBA.
  {
    type: 'float64',
    value: 1.5,
    note: '0x3FF8000000000000',
    wire: {
      ABCD: [0x3ff8, 0x0000, 0x0000, 0x0000],
      CDAB: [0x0000, 0x0000, 0x0000, 0x3ff8],
      BADC: [0xf83f, 0x0000, 0x0000, 0x0000],
      DCBA: [0x0000, 0x0000, 0x0000, 0xf83f],
    },
  },
  {
    type: 'float64',
    value: -230.5,
    note: '0xC06CD00000000000',
    wire: {
      ABCD: [0xc06c, 0xd000, 0x0000, 0x0000],
      CDAB: [0x0000, 0x0000, 0xd000, 0xc06c],
      BADC: [0x6cc0, 0x00d0, 0x0000, 0x0000],
      DCBA: [0x0000, 0x0000, 0x00d0, 0x6cc0],
    },
  },
  {
    type: 'float64',
    value: 0.1,
    note: '0x3FB999999999999A',
    wire: {
      ABCD: [0x3fb9, 0x9999, 0x9999, 0x999a],
      CDAB: [0x999a, 0x9999, 0x9999, 0x3fb9],
      BADC: [0xb93f, 0x9999, 0x9999, 0x9a99],
      DCBA: [0x9a99, 0x9999, 0x9999, 0xb93f],
    },
  },
  {
    type: 'int64',
    value: -2,
    note: '0xFFFFFFFFFFFFFFFE',
    wire: {
      ABCD: [0xffff, 0xffff, 0xffff, 0xfffe],
      CDAB: [0xfffe, 0xffff, 0xffff, 0xffff],
      BADC: [0xffff, 0xffff, 0xffff, 0xfeff],
      DCBA: [0xfeff, 0xffff, 0xffff, 0xffff],
    },
  },
  {
    type: 'int64',
    value: -1234567890123,
    note: '0xFFFFFEE08E04FB35',
    wire: {
      ABCD: [0xffff, 0xfee0, 0x8e04, 0xfb35],
      CDAB: [0xfb35, 0x8e04, 0xfee0, 0xffff],
      BADC: [0xffff, 0xe0fe, 0x048e, 0x35fb],
      DCBA: [0x35fb, 0x048e, 0xe0fe, 0xffff],
    },
  },
  {
    type: 'int64',
    value: 4294967296,
    note: '0x0000000100000000 (2^32: the carry into the second word)',
    wire: {
      ABCD: [0x0000, 0x0001, 0x0000, 0x0000],
      CDAB: [0x0000, 0x0000, 0x0001, 0x0000],
      BADC: [0x0000, 0x0100, 0x0000, 0x0000],
      DCBA: [0x0000, 0x0000, 0x0100, 0x0000],
    },
  },
  {
    type: 'int64',
    value: -9223372036854775808,
    note: '0x8000000000000000 (-2^63, exact as a Number)',
    wire: {
      ABCD: [0x8000, 0x0000, 0x0000, 0x0000],
      CDAB: [0x0000, 0x0000, 0x0000, 0x8000],
      BADC: [0x0080, 0x0000, 0x0000, 0x0000],
      DCBA: [0x0000, 0x0000, 0x0000, 0x0080],
    },
  },
  {
    type: 'uint64',
    value: 123456789012,
    note: '0x0000001CBE991A14 (Wh on an energy counter)',
    wire: {
      ABCD: [0x0000, 0x001c, 0xbe99, 0x1a14],
      CDAB: [0x1a14, 0xbe99, 0x001c, 0x0000],
      BADC: [0x0000, 0x1c00, 0x99be, 0x141a],
      DCBA: [0x141a, 0x99be, 0x1c00, 0x0000],
    },
  },
  {
    type: 'uint64',
    value: 9007199254740991,
    note: '0x001FFFFFFFFFFFFF (2^53 - 1, the largest exact integer)',
    wire: {
      ABCD: [0x001f, 0xffff, 0xffff, 0xffff],
      CDAB: [0xffff, 0xffff, 0xffff, 0x001f],
      BADC: [0x1f00, 0xffff, 0xffff, 0xffff],
      DCBA: [0xffff, 0xffff, 0xffff, 0x1f00],
    },
  },
];

/** 0x0102030405060708 in each order: every byte different, so any misplaced byte shows. */
const U64_BYTES: Record<WordOrder, number[]> = {
  ABCD: [0x0102, 0x0304, 0x0506, 0x0708],
  CDAB: [0x0708, 0x0506, 0x0304, 0x0102],
  BADC: [0x0201, 0x0403, 0x0605, 0x0807],
  DCBA: [0x0807, 0x0605, 0x0403, 0x0201],
};

t.test('register counts', (t) => {
  t.same(
    (['int16', 'uint16', 'bit', 'int32', 'uint32', 'float32', 'int64', 'uint64', 'float64'] as const).map(registerCount),
    [1, 1, 1, 2, 2, 2, 4, 4, 4],
  );
  t.throws(() => registerCount('string'), RangeError);
  t.equal(pointRegisterCount({ type: 'string', length: 4, function: 'holding' }), 4);
  t.equal(pointRegisterCount({ type: 'bit', function: 'holding' }), 1);
  t.equal(pointRegisterCount({ type: 'float64', function: 'input' }), 4);
  t.equal(pointRegisterCount({ type: 'bit', function: 'coil' }), 1, 'a coil is one bit');
  t.throws(() => pointRegisterCount({ type: 'string', function: 'holding' }), RangeError);
  t.throws(() => pointRegisterCount({ type: 'string', length: 0, function: 'holding' }), RangeError);
  t.end();
});

t.test('decode known patterns in every word order', (t) => {
  for (const c of CASES) {
    for (const order of ORDERS) {
      const expected = c.type === 'float32' ? Math.fround(c.value) : c.value;
      t.equal(decode(c.wire[order], 0, c.type, order), expected, `${c.type} ${c.note} ${order}`);
    }
  }
  t.end();
});

t.test('encode known patterns in every word order', (t) => {
  for (const c of CASES) {
    for (const order of ORDERS) {
      t.same(encode(c.value, c.type, order), c.wire[order], `${c.type} ${c.note} ${order}`);
    }
  }
  t.end();
});

t.test('uint64 0x0102030405060708: exact as BigInt, nearest Number otherwise', (t) => {
  for (const order of ORDERS) {
    t.equal(decodeBigInt(U64_BYTES[order], 0, 'uint64', order), 0x0102030405060708n, `exact ${order}`);
    // 72623859790382856 is beyond 2^53: the nearest double is 72623859790382848.
    t.equal(decode(U64_BYTES[order], 0, 'uint64', order), 72623859790382848, `rounded ${order}`);
    t.equal(decode(U64_BYTES[order], 0, 'int64', order), 72623859790382848, `int64 ${order}`);
    t.same(encode(0x0102030405060708n, 'uint64', order), U64_BYTES[order], `encode ${order}`);
  }
  t.equal(decodeBigInt([0xffff, 0xffff, 0xffff, 0xfffe], 0, 'int64', 'ABCD'), -2n);
  t.equal(decodeBigInt([0xffff, 0xffff, 0xffff, 0xfffe], 0, 'uint64', 'ABCD'), 0xfffffffffffffffen);
  // 2^53 + 1 is not a double: the Number is 2^53 (documented precision loss), the BigInt is exact.
  t.equal(decode([0x0020, 0x0000, 0x0000, 0x0001], 0, 'uint64', 'ABCD'), 9007199254740992);
  t.equal(decodeBigInt([0x0020, 0x0000, 0x0000, 0x0001], 0, 'uint64', 'ABCD'), 9007199254740993n);
  t.equal(decode([0xffff, 0xffff, 0xffff, 0xffff], 0, 'uint64', 'ABCD'), 18446744073709551616);
  t.end();
});

t.test('64-bit Number decoding is exactly Number(BigInt) (one rounding to nearest)', (t) => {
  // Deterministic patterns: xorshift32 words, plus edges around the rounding boundaries.
  let state = 0x2545f491;
  const next = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) & 0xffff;
  };
  const patterns: number[][] = [
    [0x0020, 0x0000, 0x0000, 0x0003], // 2^53 + 3: a tie rounding to even upwards
    [0x0040, 0x0000, 0x0000, 0x0002], // 2^54 + 2: a tie rounding to even downwards
    [0x7fff, 0xffff, 0xffff, 0xffff],
    [0x8000, 0x0000, 0x0000, 0x0001],
  ];
  for (let i = 0; i < 2000; i++) patterns.push([next(), next(), next(), next()]);
  let mismatches = 0;
  for (const words of patterns) {
    for (const type of ['int64', 'uint64'] as const) {
      if (decode(words, 0, type, 'ABCD') !== Number(decodeBigInt(words, 0, type, 'ABCD'))) mismatches++;
    }
  }
  t.equal(mismatches, 0);
  t.end();
});

t.test('bits: bitIndex of the register after the order byte swap', (t) => {
  // 0x0102: bits 1 and 8 set. BADC/DCBA carry it as 0x0201 on the wire.
  const wire: Record<WordOrder, number[]> = { ABCD: [0x0102], CDAB: [0x0102], BADC: [0x0201], DCBA: [0x0201] };
  for (const order of ORDERS) {
    t.same(
      [0, 1, 2, 7, 8, 9, 15].map((bit) => decode(wire[order], 0, 'bit', order, bit)),
      [0, 1, 0, 0, 1, 0, 0],
      `bits of 0x0102 ${order}`,
    );
  }
  t.equal(decode([0x8000], 0, 'bit', 'ABCD', 15), 1);
  t.equal(decode([0x8000], 0, 'bit', 'ABCD'), 0, 'bitIndex defaults to 0');
  t.throws(() => decode([0], 0, 'bit', 'ABCD', 16), RangeError);
  t.same(encode(1, 'bit', 'ABCD', 15), [0x8000]);
  t.same(encode(1, 'bit', 'BADC', 1), [0x0200]);
  t.same(encode(0, 'bit', 'ABCD', 3), [0]);
  t.end();
});

t.test('strings: two characters per register, NUL and space padding trimmed', (t) => {
  // "DTSU666" in 4 registers: D=0x44 T=0x54 S=0x53 U=0x55 6=0x36, padded with one NUL.
  t.equal(decodeString([0x4454, 0x5355, 0x3636, 0x3600], 0, 4, 'ABCD'), 'DTSU666');
  t.equal(decodeString([0x4454, 0x5355, 0x3636, 0x3600], 0, 4, 'CDAB'), 'DTSU666', 'registers are never reordered');
  t.equal(decodeString([0x5444, 0x5553, 0x3636, 0x0036], 0, 4, 'BADC'), 'DTSU666', 'low byte first');
  t.equal(decodeString([0x5444, 0x5553, 0x3636, 0x0036], 0, 4, 'DCBA'), 'DTSU666');
  t.equal(decodeString([0x4142, 0x2020], 0, 2, 'ABCD'), 'AB', 'trailing spaces');
  t.equal(decodeString([0x2041, 0x4220, 0x0000], 0, 3, 'ABCD'), ' AB', 'leading spaces kept');
  t.equal(decodeString([0x4142, 0x0043, 0x4445], 0, 3, 'ABCD'), 'AB', 'everything after the first NUL dropped');
  t.equal(decodeString([0x0000, 0x0000], 0, 2, 'ABCD'), '');
  t.equal(decodeString([0xcea9, 0x3100], 0, 2, 'ABCD'), 'Ω1', 'UTF-8');
  t.equal(decodeString([0x9999, 0x4142, 0x4300], 1, 2, 'ABCD'), 'ABC', 'at an offset');
  t.throws(() => decodeString([0x4142], 0, 2, 'ABCD'), RangeError);
  t.same(encodeString('DTSU666', 4, 'ABCD'), [0x4454, 0x5355, 0x3636, 0x3600]);
  t.same(encodeString('DTSU666', 4, 'BADC'), [0x5444, 0x5553, 0x3636, 0x0036]);
  t.same(encodeString('Ω1', 2, 'ABCD'), [0xcea9, 0x3100]);
  t.throws(() => encodeString('TOO LONG', 2, 'ABCD'), RangeError);
  t.throws(() => decode([0x4142], 0, 'string', 'ABCD'), RangeError);
  t.throws(() => encode(1, 'string', 'ABCD'), RangeError);
  t.end();
});

t.test('round trip encode then decode', (t) => {
  const values: Record<Exclude<RegisterType, 'string' | 'bit'>, number[]> = {
    int16: [0, 1, -1, 12345, -12345, 32767, -32768],
    uint16: [0, 1, 255, 256, 40000, 65535],
    int32: [0, 1, -1, 70000, -70000, 2147483647, -2147483648],
    uint32: [0, 1, 65535, 65536, 2147483648, 4294967295],
    float32: [0, -0, 1, -1, 230.5, 49.98, 1e-20, 3.4e38, Infinity, -Infinity],
    int64: [0, 1, -1, 4294967295, 4294967296, -4294967297, 9007199254740991, -9007199254740991],
    uint64: [0, 1, 4294967296, 123456789012345, 9007199254740991],
    float64: [0, -0, 1.5, -230.5, 0.1, 49.98, 1e-300, 1.7e308, Infinity, -Infinity],
  };
  for (const [type, list] of Object.entries(values) as [Exclude<RegisterType, 'string' | 'bit'>, number[]][]) {
    for (const value of list) {
      for (const order of ORDERS) {
        const expected = type === 'float32' ? Math.fround(value) : value;
        t.equal(decode(encode(value, type, order), 0, type, order), expected, `${type} ${value} ${order}`);
      }
    }
  }
  for (const order of ORDERS) {
    for (const big of [0n, -1n, -(2n ** 63n), 2n ** 63n - 1n]) {
      t.equal(decodeBigInt(encode(big, 'int64', order), 0, 'int64', order), big, `int64 ${big} ${order}`);
    }
    for (const big of [0n, 2n ** 64n - 1n, 2n ** 63n]) {
      t.equal(decodeBigInt(encode(big, 'uint64', order), 0, 'uint64', order), big, `uint64 ${big} ${order}`);
    }
  }
  t.end();
});

t.test('decode reads at an offset, from arrays and Uint16Array alike', (t) => {
  const registers = [0x0000, 0x4366, 0x8000, 0xfffe];
  t.equal(decode(registers, 1, 'float32', 'ABCD'), 230.5);
  t.equal(decode(Uint16Array.from(registers), 1, 'float32', 'ABCD'), 230.5);
  t.equal(decode(registers, 3, 'int16', 'ABCD'), -2);
  t.equal(decode(registers, 3, 'uint16', 'ABCD'), 0xfffe);
  t.equal(decode(Uint16Array.from([0xaaaa, 0x3ff8, 0, 0, 0]), 1, 'float64', 'ABCD'), 1.5);
  t.end();
});

t.test('decode refuses to read past the registers', (t) => {
  t.throws(() => decode([0x4366], 0, 'float32', 'ABCD'), RangeError);
  t.throws(() => decode([0x4366, 0x8000], 1, 'uint32', 'CDAB'), RangeError);
  t.throws(() => decode([1, 2, 3], 0, 'float64', 'ABCD'), RangeError);
  t.throws(() => decodeBigInt([1, 2, 3, 4], 1, 'int64', 'ABCD'), RangeError);
  t.throws(() => decode([], 0, 'int16', 'ABCD'), RangeError);
  t.throws(() => decode([1, 2], -1, 'int16', 'ABCD'), RangeError);
  t.end();
});

t.test('float NaN and infinities decode as such and are flagged by toEngineering', (t) => {
  // Quiet NaN 0x7FC00000, and a NaN with payload 0x7F800001.
  for (const order of ORDERS) {
    t.ok(Number.isNaN(decode(encodeWords(0x7fc00000, order), 0, 'float32', order)), `quiet NaN ${order}`);
  }
  t.ok(Number.isNaN(decode([0x7f80, 0x0001], 0, 'float32', 'ABCD')), 'NaN with payload');
  t.equal(decode([0x7f80, 0x0000], 0, 'float32', 'ABCD'), Infinity);
  t.equal(decode([0xff80, 0x0000], 0, 'float32', 'ABCD'), -Infinity);
  t.ok(Number.isNaN(decode([0x7ff8, 0, 0, 0], 0, 'float64', 'ABCD')), 'float64 quiet NaN 0x7FF8000000000000');
  t.equal(decode([0, 0, 0, 0xf0ff], 0, 'float64', 'DCBA'), -Infinity, 'float64 0xFFF0000000000000 in DCBA');
  // The flag: a non-finite engineering value, which the reader reports as DECODE_ERROR.
  t.notOk(Number.isFinite(toEngineering(Number.NaN, { scale: 0.1, offset: 0 })));
  t.notOk(Number.isFinite(toEngineering(Infinity, { scale: 1, offset: 0 })));
  // NaN encodes as a quiet NaN.
  t.same(encode(Number.NaN, 'float32', 'ABCD'), [0x7fc0, 0x0000]);
  t.end();
});

/** 32 bits as two registers in `order`, built by hand from the byte names. */
function encodeWords(bits: number, order: WordOrder): number[] {
  const a = (bits >>> 24) & 0xff;
  const b = (bits >>> 16) & 0xff;
  const c = (bits >>> 8) & 0xff;
  const d = bits & 0xff;
  const word = (hi: number, lo: number): number => (hi << 8) | lo;
  switch (order) {
    case 'ABCD':
      return [word(a, b), word(c, d)];
    case 'CDAB':
      return [word(c, d), word(a, b)];
    case 'BADC':
      return [word(b, a), word(d, c)];
    case 'DCBA':
      return [word(d, c), word(b, a)];
  }
}

t.test('encode rounds integers and rejects what does not fit', (t) => {
  t.same(encode(1.4, 'int16', 'ABCD'), [1]);
  t.same(encode(-1.6, 'int16', 'ABCD'), [0xfffe]);
  t.throws(() => encode(32768, 'int16', 'ABCD'), RangeError);
  t.throws(() => encode(-32769, 'int16', 'ABCD'), RangeError);
  t.throws(() => encode(-1, 'uint16', 'ABCD'), RangeError);
  t.throws(() => encode(65536, 'uint16', 'ABCD'), RangeError);
  t.throws(() => encode(2147483648, 'int32', 'ABCD'), RangeError);
  t.throws(() => encode(4294967296, 'uint32', 'ABCD'), RangeError);
  t.throws(() => encode(Number.NaN, 'uint32', 'ABCD'), RangeError);
  t.throws(() => encode(-1, 'uint64', 'ABCD'), RangeError);
  t.throws(() => encode(2n ** 63n, 'int64', 'ABCD'), RangeError);
  t.throws(() => encode(2n ** 64n, 'uint64', 'ABCD'), RangeError);
  t.throws(() => encode(Infinity, 'int64', 'ABCD'), RangeError);
  t.end();
});

t.test('encodeInto writes in place at an offset', (t) => {
  const target = new Uint16Array(6);
  encodeInto(230.5, 'float32', 'CDAB', target, 1);
  t.same(Array.from(target), [0, 0x8000, 0x4366, 0, 0, 0]);
  encodeInto(1.5, 'float64', 'DCBA', target, 2);
  t.same(Array.from(target), [0, 0x8000, 0, 0, 0, 0xf83f]);
  t.throws(() => encodeInto(1, 'uint32', 'ABCD', target, 5), RangeError);
  t.end();
});

function sentinelPoint(fields: Partial<ModbusPointConfig> & Pick<ModbusPointConfig, 'type' | 'sentinels'>): ModbusPointConfig {
  return { name: 'p', function: 'holding', address: 0, wordOrder: 'ABCD', scale: 1, offset: 0, priority: 'fast', ...fields };
}

t.test('sentinels are compared on the exact raw value', (t) => {
  t.equal(sentinelTest(sentinelPoint({ type: 'uint16', sentinels: [] })), null, 'no sentinels, no test');
  const u16 = sentinelTest(sentinelPoint({ type: 'uint16', sentinels: [0xffff] }));
  t.ok(u16?.([0xffff], 0));
  t.notOk(u16?.([0xfffe], 0));
  const i16 = sentinelTest(sentinelPoint({ type: 'int16', wordOrder: 'BADC', sentinels: [-32768] }));
  t.ok(i16?.([0x0080], 0), 'int16 0x8000 with bytes swapped');
  t.notOk(i16?.([0x8000], 0));
  const i32 = sentinelTest(sentinelPoint({ type: 'int32', wordOrder: 'CDAB', sentinels: [0x7fffffff] }));
  t.ok(i32?.([0x0000, 0xffff, 0x7fff], 1), 'int32 0x7FFFFFFF word-swapped at an offset');
  const f32 = sentinelTest(sentinelPoint({ type: 'float32', sentinels: [-1] }));
  t.ok(f32?.([0xbf80, 0x0000], 0), 'float32 -1');

  // 0x7FFFFFFFFFFFFFFF written in a YAML file arrives as the Number 2^63: it means int64 max exactly.
  const i64 = sentinelTest(sentinelPoint({ type: 'int64', wordOrder: 'CDAB', sentinels: [0x7fffffffffffffff] }));
  t.ok(i64?.([0xffff, 0xffff, 0xffff, 0x7fff], 0), 'int64 0x7FFFFFFFFFFFFFFF (GHEFCDAB)');
  // 0x7FFFFFFFFFFFFFFE rounds to the same Number, but it is a value, not the sentinel.
  t.notOk(i64?.([0xfffe, 0xffff, 0xffff, 0x7fff], 0), 'int64 0x7FFFFFFFFFFFFFFE is a value');
  t.equal(decode([0xfffe, 0xffff, 0xffff, 0x7fff], 0, 'int64', 'CDAB'), 0x7fffffffffffffff, '(same Number after rounding)');
  const i64min = sentinelTest(sentinelPoint({ type: 'int64', sentinels: [-9223372036854775808] }));
  t.ok(i64min?.([0x8000, 0, 0, 0], 0), 'int64 0x8000000000000000');
  t.notOk(i64min?.([0x8000, 0, 0, 1], 0));
  const u64 = sentinelTest(sentinelPoint({ type: 'uint64', wordOrder: 'DCBA', sentinels: [0xffffffffffffffff, 0] }));
  t.ok(u64?.([0xffff, 0xffff, 0xffff, 0xffff], 0), 'uint64 0xFFFFFFFFFFFFFFFF');
  t.notOk(u64?.([0xfeff, 0xffff, 0xffff, 0xffff], 0), 'uint64 0xFFFFFFFFFFFFFFFE is a value');
  t.ok(u64?.([0, 0, 0, 0], 0), 'uint64 0');

  const bit = sentinelTest(sentinelPoint({ type: 'bit', bitIndex: 3, sentinels: [1] }));
  t.ok(bit?.([0x0008], 0));
  t.notOk(bit?.([0x0004], 0));

  t.throws(() => sentinelTest(sentinelPoint({ type: 'int64', sentinels: [2 ** 64] })), RangeError, 'out of int64 range');
  t.throws(() => sentinelTest(sentinelPoint({ type: 'uint64', sentinels: [-1] })), RangeError);
  t.throws(() => sentinelTest(sentinelPoint({ type: 'int64', sentinels: [1.5] })), RangeError);
  t.throws(() => sentinelTest(sentinelPoint({ type: 'string', length: 2, sentinels: [0] })), RangeError);
  t.end();
});

t.test('engineering values: value = raw * scale + offset', (t) => {
  t.equal(toEngineering(100, { scale: 2, offset: -40 }), 160);
  t.equal(toEngineering(2305, { scale: 0.5, offset: 0 }), 1152.5);
  t.ok(Math.abs(toEngineering(2305, { scale: 0.1, offset: 0 }) - 230.5) < 1e-9);
  t.equal(fromEngineering(160, { scale: 2, offset: -40 }), 100);
  t.equal(fromEngineering(toEngineering(-7, { scale: 0.25, offset: 3 }), { scale: 0.25, offset: 3 }), -7);
  t.throws(() => fromEngineering(1, { scale: 0, offset: 0 }), RangeError);
  t.end();
});
