import t from 'tap';
import { IdOrder } from '../../gateway/engine/id-order.js';

t.test('sorts ids and ranks, drops duplicates', (t) => {
  const order = new IdOrder(['C3', 'C10', 'C1', 'C2']);
  t.strictSame(order.sort([['C2', 'C10']]), ['C10', 'C2'], 'string order, as Array.prototype.sort');
  t.strictSame(order.sort([['C2'], new Set(['C3', 'C2'])], [order.ranksOf(['C1', 'C3'])]), ['C1', 'C2', 'C3']);
  t.strictSame(order.sort([['C2', 'ZZ', 'A0']]), ['A0', 'C2', 'ZZ'], 'unknown ids are still sorted in');
  t.strictSame(order.sort([]), []);
  t.equal(order.rankOf('C10'), 1);
  t.end();
});

t.test('both the bitmap and the sorting path agree with a string sort', (t) => {
  const all: string[] = [];
  for (let i = 0; i < 5000; i++) all.push(`C${(i * 7919) % 5000}-${i % 7}`);
  const order = new IdOrder(all);
  let seed = 12345;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  for (const size of [1, 3, 10, 19, 20, 21, 500, 4000]) {
    const pick: string[] = [];
    for (let i = 0; i < size; i++) pick.push(all[Math.floor(rnd() * all.length)]!);
    const half = Math.floor(size / 2);
    const got = order.sort([pick.slice(0, half)], [order.ranksOf(pick.slice(half))]);
    t.strictSame(got, [...new Set(pick)].sort(), `${size} ids`);
  }
  t.end();
});
