import t from 'tap';
import type { PointConfig, RegisterFunction, RegisterType } from '../../gateway/config/site-config.js';
import { planBlocks } from '../../drivers/modbus/block-plan.js';

function point(name: string, fn: RegisterFunction, address: number, type: RegisterType): PointConfig {
  return { name, function: fn, address, type, wordOrder: 'ABCD', scale: 1, offset: 0 };
}

/** The plan in a compact form: [function, address, count, point names with offsets]. */
function summary(points: PointConfig[], maxGap?: number): [string, number, number, string[]][] {
  const options = maxGap === undefined ? {} : { maxGap };
  return planBlocks(points, options).map((b) => [
    b.function,
    b.address,
    b.count,
    b.points.map((p) => `${p.point.name}@${p.offset}`),
  ]);
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

t.test('a gap of exactly 8 registers is bridged, 9 is not', (t) => {
  t.same(summary([point('a', 'holding', 0, 'float32'), point('b', 'holding', 10, 'uint16')]), [
    ['holding', 0, 11, ['a@0', 'b@10']],
  ]);
  t.same(summary([point('a', 'holding', 0, 'float32'), point('b', 'holding', 11, 'uint16')]), [
    ['holding', 0, 2, ['a@0']],
    ['holding', 11, 1, ['b@0']],
  ]);
  t.end();
});

t.test('no request exceeds 125 registers', (t) => {
  t.same(summary([point('a', 'input', 0, 'float32'), point('b', 'input', 123, 'float32')], 200), [
    ['input', 0, 125, ['a@0', 'b@123']],
  ]);
  t.same(summary([point('a', 'input', 0, 'float32'), point('b', 'input', 124, 'float32')], 200), [
    ['input', 0, 2, ['a@0']],
    ['input', 124, 2, ['b@0']],
  ]);
  const many = Array.from({ length: 100 }, (_, i) => point(`p${i}`, 'holding', i * 2, 'float32'));
  const plan = planBlocks(many);
  t.same(
    plan.map((b) => [b.address, b.count]),
    [
      [0, 124],
      [124, 76],
    ],
  );
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

t.test('addresses outside the register space are rejected', (t) => {
  t.throws(() => planBlocks([point('x', 'holding', 65535, 'float32')]), RangeError);
  t.throws(() => planBlocks([point('x', 'holding', -1, 'uint16')]), RangeError);
  t.same(planBlocks([]), []);
  t.end();
});
