import t from 'tap';
import { compactTime, OutageIds } from '../../gateway/engine/outage-ids.js';

const T0 = Date.parse('2024-05-01T08:00:00.000Z');

t.test('compact time keeps milliseconds', (t) => {
  t.equal(compactTime(Date.parse('2024-12-31T23:59:58.123Z')), '20241231T235958123');
  t.end();
});

t.test('ids are unique, also against subjects that end in a counter', (t) => {
  const ids = new OutageIds('s');
  t.equal(ids.next(T0, 'X'), 's-20240501T080000000-X');
  t.equal(ids.next(T0, 'X'), 's-20240501T080000000-X-2');
  t.equal(ids.next(T0, 'X-2'), 's-20240501T080000000-X-2-2', 'X-2 was taken by the second X');
  t.equal(ids.next(T0, 'X'), 's-20240501T080000000-X-3');
  t.equal(ids.next(T0 + 1, 'X'), 's-20240501T080000001-X');
  t.end();
});

t.test('old ids are forgotten once there are many, recent ones never', (t) => {
  const ids = new OutageIds('s', 1000, 4);
  // Five ids within the retention: the prune at the fifth forgets nothing and waits for 10 ids.
  for (let i = 0; i < 5; i++) ids.next(T0 + i, 'A');
  t.equal(ids.next(T0 + 4, 'A'), 's-20240501T080000004-A-2', 'recent ids are remembered');
  for (let i = 0; i < 4; i++) ids.next(T0 + 10_000, 'B');
  t.equal(ids.next(T0 + 10_000, 'C'), 's-20240501T080010000-C', 'the eleventh id prunes those over 1 s older');
  t.equal(ids.next(T0, 'A'), 's-20240501T080000000-A', 'a forgotten id can be issued again');
  t.equal(ids.next(T0 + 10_000, 'B'), 's-20240501T080010000-B-5', 'recent ones are still known');
  t.end();
});
