import t from 'tap';
import { Backoff } from '../../drivers/modbus/backoff.js';
import { stableHash32, staggerOffsetMs } from '../../drivers/modbus/stagger.js';

t.test('doubles from 500 ms and caps at 30 s', (t) => {
  const backoff = new Backoff({ jitter: 0 });
  const delays = Array.from({ length: 10 }, () => backoff.next());
  t.same(delays, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
  t.equal(backoff.attempts, 10);
  backoff.reset();
  t.equal(backoff.next(), 500);
  t.end();
});

t.test('jitter stays within ±10 % and is reproducible per seed', (t) => {
  const run = (seed: string): number[] => {
    const backoff = new Backoff({ seed });
    return Array.from({ length: 10 }, () => backoff.next());
  };
  const a = run('meter-17');
  t.same(run('meter-17'), a, 'same seed, same delays');
  t.notSame(run('meter-18'), a, 'another device retries at other times');
  const bases = [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000];
  a.forEach((delay, i) => {
    const base = bases[i] as number;
    t.ok(delay >= base * 0.9 && delay <= base * 1.1, `${delay} within 10 % of ${base}`);
  });
  t.end();
});

t.test('rejects nonsense settings', (t) => {
  t.throws(() => new Backoff({ initialMs: 0 }), RangeError);
  t.throws(() => new Backoff({ initialMs: 1000, maxMs: 10 }), RangeError);
  t.throws(() => new Backoff({ jitter: 1 }), RangeError);
  t.end();
});

t.test('stagger offsets are stable, inside the interval and spread out', (t) => {
  // FNV-1a reference values: "" and "a".
  t.equal(stableHash32(''), 0x811c9dc5);
  t.equal(stableHash32('a'), 0xe40c292c);
  t.equal(staggerOffsetMs('meter-1', 1000), staggerOffsetMs('meter-1', 1000));

  const buckets = new Array<number>(10).fill(0);
  let outside = 0;
  for (let i = 0; i < 1000; i++) {
    const offset = staggerOffsetMs(`meter-${i}`, 1000);
    if (!(Number.isInteger(offset) && offset >= 0 && offset < 1000)) outside++;
    else buckets[Math.floor(offset / 100)]! += 1;
  }
  t.equal(outside, 0, 'every offset is a whole millisecond inside the interval');
  // 1000 devices over ten 100 ms slices: none may hold a crowd (uniform would be 100 each).
  t.ok(Math.max(...buckets) < 160 && Math.min(...buckets) > 40, `slices ${buckets.join(',')}`);
  t.end();
});
