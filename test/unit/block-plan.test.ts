import t from 'tap';
import type { ModbusPointConfig, RegisterFunction, RegisterType } from '../../drivers/device-config.js';
import { planBlocks, planDevice, type ReadBlock } from '../../drivers/modbus/block-plan.js';

function point(
  name: string,
  fn: RegisterFunction,
  address: number,
  type: RegisterType,
  extra: Partial<ModbusPointConfig> = {},
): ModbusPointConfig {
  return { name, function: fn, address, type, wordOrder: 'ABCD', scale: 1, offset: 0, priority: 'fast', ...extra };
}

/** The plan in a compact form: [function, address, count, point names with offsets]. */
function compact(blocks: readonly ReadBlock[]): [string, number, number, string[]][] {
  return blocks.map((b) => [b.function, b.address, b.count, b.points.map((p) => `${p.point.name}@${p.offset}`)]);
}

function summary(points: ModbusPointConfig[], maxGap?: number, maxRegisters?: number): [string, number, number, string[]][] {
  return compact(planBlocks(points, { ...(maxGap === undefined ? {} : { maxGap }), ...(maxRegisters === undefined ? {} : { maxRegisters }) }));
}

t.test('adjacent and nearby points share a request; far ones do not', (t) => {
  const points = [
    point('ua', 'holding', 0, 'float32'),
    point('ub', 'holding', 2, 'float32'),
    point('far', 'holding', 14, 'uint16'), // gap 14 - 4 = 10 > 8
    point('near', 'holding', 20, 'uint16'), // gap 20 - 15 = 5
    point('in', 'input', 0, 'int16'),
  ];
  t.same(summary(points), [
    ['holding', 0, 4, ['ua@0', 'ub@2']],
    ['holding', 14, 7, ['far@0', 'near@6']],
    ['input', 0, 1, ['in@0']],
  ]);
  t.end();
});

t.test('a gap of exactly maxGap registers is bridged, one more is not', (t) => {
  t.same(summary([point('a', 'holding', 0, 'float32'), point('b', 'holding', 10, 'uint16')]), [['holding', 0, 11, ['a@0', 'b@10']]]);
  t.same(summary([point('a', 'holding', 0, 'float32'), point('b', 'holding', 11, 'uint16')]), [
    ['holding', 0, 2, ['a@0']],
    ['holding', 11, 1, ['b@0']],
  ]);
  // maxGap 0: only adjacent or overlapping points share.
  t.same(summary([point('a', 'holding', 0, 'float32'), point('b', 'holding', 2, 'uint16'), point('c', 'holding', 4, 'uint16')], 0), [
    ['holding', 0, 3, ['a@0', 'b@2']],
    ['holding', 4, 1, ['c@0']],
  ]);
  t.end();
});

t.test('no register request exceeds maxRegisters, nor 125', (t) => {
  t.same(summary([point('a', 'input', 0, 'float32'), point('b', 'input', 123, 'float32')], 200), [['input', 0, 125, ['a@0', 'b@123']]]);
  t.same(summary([point('a', 'input', 0, 'float32'), point('b', 'input', 124, 'float32')], 200), [
    ['input', 0, 2, ['a@0']],
    ['input', 124, 2, ['b@0']],
  ]);
  // A device that takes at most 8 registers per request.
  t.same(summary([point('a', 'input', 0, 'float32'), point('b', 'input', 4, 'float32'), point('c', 'input', 6, 'float32')], 8, 8), [
    ['input', 0, 8, ['a@0', 'b@4', 'c@6']],
  ]);
  t.same(summary([point('a', 'input', 0, 'float32'), point('b', 'input', 4, 'float32'), point('c', 'input', 7, 'float32')], 8, 8), [
    ['input', 0, 6, ['a@0', 'b@4']],
    ['input', 7, 2, ['c@0']],
  ]);
  // maxRegisters above 125 does not lift the register limit.
  const many = Array.from({ length: 100 }, (_, i) => point(`p${i}`, 'holding', i * 2, 'float32'));
  t.same(
    planBlocks(many, { maxRegisters: 2000 }).map((b) => [b.address, b.count]),
    [
      [0, 124],
      [124, 76],
    ],
  );
  t.end();
});

t.test('coils and discrete inputs are planned in bits, up to 2000 per request', (t) => {
  const points = [
    point('brk', 'coil', 0, 'bit'),
    point('trip', 'coil', 5, 'bit'),
    point('far', 'coil', 1999, 'bit'),
    point('beyond', 'coil', 2000, 'bit'),
    point('di0', 'discrete', 100, 'bit'),
    point('di1', 'discrete', 101, 'bit'),
  ];
  t.same(summary(points, 2000, 2000), [
    ['coil', 0, 2000, ['brk@0', 'trip@5', 'far@1999']],
    ['coil', 2000, 1, ['beyond@0']],
    ['discrete', 100, 2, ['di0@0', 'di1@1']],
  ]);
  // The device's maxRegisters counts bits for coils too (default 125).
  t.same(summary(points.slice(0, 2), 8), [['coil', 0, 6, ['brk@0', 'trip@5']]]);
  t.same(
    summary([point('a', 'coil', 0, 'bit'), point('b', 'coil', 125, 'bit')], 200),
    [
      ['coil', 0, 1, ['a@0']],
      ['coil', 125, 1, ['b@0']],
    ],
    '126 bits exceed the default maxRegisters of 125',
  );
  t.end();
});

t.test('64-bit, bit and string points take their register counts', (t) => {
  const points = [
    point('energy', 'holding', 0, 'uint64'),
    point('status0', 'holding', 4, 'bit', { bitIndex: 0 }),
    point('status7', 'holding', 4, 'bit', { bitIndex: 7 }),
    point('model', 'holding', 5, 'string', { length: 4 }),
    point('f', 'holding', 9, 'float64'),
  ];
  t.same(summary(points), [['holding', 0, 13, ['energy@0', 'status0@4', 'status7@4', 'model@5', 'f@9']]]);
  t.throws(() => planBlocks([point('s', 'holding', 0, 'string')]), RangeError, 'a string needs a length');
  t.throws(() => planBlocks([point('s', 'holding', 0, 'string', { length: 126 })]), RangeError, 'larger than one request');
  t.end();
});

t.test('unsorted and overlapping points; indexes keep the configured order', (t) => {
  const points = [point('hi', 'holding', 8, 'uint16'), point('f', 'holding', 0, 'float32'), point('w', 'holding', 1, 'uint16')];
  const [block] = planBlocks(points);
  t.equal(block?.count, 9);
  t.same(
    block?.points.map((p) => [p.point.name, p.index, p.offset]),
    [
      ['f', 1, 0],
      ['w', 2, 1],
      ['hi', 0, 8],
    ],
  );
  t.end();
});

t.test('isolated points get requests of their own span only', (t) => {
  const a = point('a', 'holding', 0, 'float32');
  const b = point('b', 'holding', 2, 'uint16');
  const b0 = point('b0', 'holding', 2, 'bit', { bitIndex: 0 });
  const c = point('c', 'holding', 4, 'uint16');
  const d = point('d', 'holding', 6, 'uint16');
  t.same(compact(planBlocks([a, b, b0, c, d], { isolate: new Set([b, b0, c]) })), [
    ['holding', 0, 2, ['a@0']],
    ['holding', 2, 1, ['b@0', 'b0@0']],
    ['holding', 4, 1, ['c@0']],
    ['holding', 6, 1, ['d@0']],
  ]);
  t.end();
});

t.test('a device has a fast plan and a full plan (DTSU666: fast V/I/P/f, slow energy)', (t) => {
  const f32 = (name: string, address: number, priority: 'fast' | 'slow'): ModbusPointConfig =>
    point(name, 'holding', address, 'float32', { priority });
  const points = [
    f32('ua', 0x2006, 'fast'),
    f32('ub', 0x2008, 'fast'),
    f32('uc', 0x200a, 'fast'),
    f32('ia', 0x200c, 'fast'),
    f32('ib', 0x200e, 'fast'),
    f32('ic', 0x2010, 'fast'),
    f32('p', 0x2012, 'fast'),
    f32('freq', 0x2044, 'fast'),
    f32('importKwh', 0x401e, 'slow'),
    f32('exportKwh', 0x4028, 'slow'),
  ];
  const plan = planDevice({ points, maxGap: 8, maxRegisters: 125 });
  t.same(compact(plan.fast), [
    ['holding', 0x2006, 14, ['ua@0', 'ub@2', 'uc@4', 'ia@6', 'ib@8', 'ic@10', 'p@12']],
    ['holding', 0x2044, 2, ['freq@0']],
  ]);
  t.same(compact(plan.all), [
    ['holding', 0x2006, 14, ['ua@0', 'ub@2', 'uc@4', 'ia@6', 'ib@8', 'ic@10', 'p@12']],
    ['holding', 0x2044, 2, ['freq@0']],
    ['holding', 0x401e, 12, ['importKwh@0', 'exportKwh@10']],
  ]);
  t.same(
    plan.all.flatMap((b) => b.points.map((p) => p.index)),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    'indexes are positions in the device point list',
  );
  // With a large gap allowed the fast registers become one request (0x2006..0x2045 = 64 registers).
  t.same(
    compact(planDevice({ points, maxGap: 60, maxRegisters: 125 }).fast).map(([fn, address, count]) => [fn, address, count]),
    [['holding', 0x2006, 64]],
  );
  t.end();
});

t.test('bad addresses and options are rejected', (t) => {
  t.throws(() => planBlocks([point('x', 'holding', 65535, 'float32')]), RangeError);
  t.throws(() => planBlocks([point('x', 'holding', 65533, 'uint64')]), RangeError);
  t.equal(planBlocks([point('x', 'holding', 65532, 'uint64')])[0]?.count, 4, 'the last four registers');
  t.throws(() => planBlocks([point('x', 'holding', -1, 'uint16')]), RangeError);
  t.throws(() => planBlocks([], { maxGap: -1 }), RangeError);
  t.throws(() => planBlocks([], { maxRegisters: 0 }), RangeError);
  t.same(planBlocks([]), []);
  t.end();
});
