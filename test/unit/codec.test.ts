import t from 'tap';
import type { RegisterType, WordOrder } from '../../gateway/config/site-config.js';
import {
  decode,
  encode,
  encodeInto,
  fromEngineering,
  registerCount,
  toEngineering,
} from '../../drivers/modbus/codec.js';

const ORDERS: readonly WordOrder[] = ['ABCD', 'CDAB', 'BADC', 'DCBA'];

/** Known patterns, written out by hand: value -> registers on the wire for each order. */
interface Case {
  type: RegisterType;
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
    value: 1,
    note: '0x3F800000',
    wire: { ABCD: [0x3f80, 0x0000], CDAB: [0x0000, 0x3f80], BADC: [0x803f, 0x0000], DCBA: [0x0000, 0x803f] },
  },
  {
    type: 'float32',
    value: 0.1,
    note: '0x3DCCCCCD (0.1 rounded to single precision)',
    wire: { ABCD: [0x3dcc, 0xcccd], CDAB: [0xcccd, 0x3dcc], BADC: [0xcc3d, 0xcdcc], DCBA: [0xcdcc, 0xcc3d] },
  },
];

t.test('register counts', (t) => {
  t.equal(registerCount('int16'), 1);
  t.equal(registerCount('uint16'), 1);
  t.equal(registerCount('int32'), 2);
  t.equal(registerCount('uint32'), 2);
  t.equal(registerCount('float32'), 2);
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

t.test('round trip encode then decode', (t) => {
  const values: Record<RegisterType, number[]> = {
    int16: [0, 1, -1, 12345, -12345, 32767, -32768],
    uint16: [0, 1, 255, 256, 40000, 65535],
    int32: [0, 1, -1, 70000, -70000, 2147483647, -2147483648],
    uint32: [0, 1, 65535, 65536, 2147483648, 4294967295],
    float32: [0, -0, 1, -1, 230.5, 49.98, 1e-20, 3.4e38, Infinity, -Infinity],
  };
  for (const [type, list] of Object.entries(values) as [RegisterType, number[]][]) {
    for (const value of list) {
      for (const order of ORDERS) {
        const expected = type === 'float32' ? Math.fround(value) : value;
        t.equal(decode(encode(value, type, order), 0, type, order), expected, `${type} ${value} ${order}`);
      }
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
  t.end();
});

t.test('decode refuses to read past the registers', (t) => {
  t.throws(() => decode([0x4366], 0, 'float32', 'ABCD'), RangeError);
  t.throws(() => decode([0x4366, 0x8000], 1, 'uint32', 'CDAB'), RangeError);
  t.throws(() => decode([], 0, 'int16', 'ABCD'), RangeError);
  t.throws(() => decode([1, 2], -1, 'int16', 'ABCD'), RangeError);
  t.end();
});

t.test('float32 NaN and infinities decode as such and are flagged by toEngineering', (t) => {
  // Quiet NaN 0x7FC00000, and a NaN with payload 0x7F800001.
  for (const order of ORDERS) {
    t.ok(Number.isNaN(decode(encodeWords(0x7fc00000, order), 0, 'float32', order)), `quiet NaN ${order}`);
  }
  t.ok(Number.isNaN(decode([0x7f80, 0x0001], 0, 'float32', 'ABCD')), 'NaN with payload');
  t.equal(decode([0x7f80, 0x0000], 0, 'float32', 'ABCD'), Infinity);
  t.equal(decode([0xff80, 0x0000], 0, 'float32', 'ABCD'), -Infinity);
  // The flag: a non-finite engineering value, which the driver reports as DECODE_ERROR.
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
  t.end();
});

t.test('encodeInto writes in place at an offset', (t) => {
  const target = new Uint16Array(4);
  encodeInto(230.5, 'float32', 'CDAB', target, 1);
  t.same(Array.from(target), [0, 0x8000, 0x4366, 0]);
  t.throws(() => encodeInto(1, 'uint32', 'ABCD', target, 3), RangeError);
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
