import t from 'tap';
import { ReplayScheduler, type Decision, type ReadPlan } from '../../gateway/publish/replay-scheduler.js';

/** A stand-in for the outbox: ids present in a sorted array. */
class Store {
  ids: number[] = [];
  append(n: number): void {
    const last = this.ids[this.ids.length - 1] ?? 0;
    for (let i = 1; i <= n; i++) this.ids.push(last + i);
  }
  get newest(): number {
    return this.ids[this.ids.length - 1] ?? 0;
  }
  read(plan: ReadPlan): number[] {
    return this.ids.filter((id) => id > plan.after && id <= plan.upTo).slice(0, plan.limit);
  }
}

function asRead(d: Decision): ReadPlan {
  if (d.type !== 'read') throw new Error(`expected a read, got ${JSON.stringify(d)}`);
  return d;
}

t.test('a sink with nothing behind sends live only', async (t) => {
  const store = new Store();
  store.append(5);
  const s = new ReplayScheduler({ batchSize: 10 });
  s.resume(5, 5, 0);
  t.equal(s.replaying, false);
  t.same(s.plan(store.newest, 0), { type: 'idle' });
  store.append(3);
  const p = asRead(s.plan(store.newest, 0));
  t.same(p, { type: 'read', source: 'live', after: 5, upTo: 8, limit: 10, historical: false });
  const ids = store.read(p);
  s.issued(p, ids);
  t.same(s.plan(store.newest, 0), { type: 'idle' });
  t.same(s.acked(6), { upTo: 6, replayed: 0 });
  t.same(s.acked(8), null, '7 still in flight');
  t.same(s.acked(7), { upTo: 8, replayed: 0 });
  t.same(s.acked(7), null, 'a duplicate ack changes nothing');
});

t.test('backlog and live interleave at the configured ratio; backlog is historical and in order', async (t) => {
  const store = new Store();
  store.append(100); // the sink acked nothing: 1..100 is backlog
  const s = new ReplayScheduler({ batchSize: 10, backlogBatchesPerLive: 2 });
  s.resume(0, 100, 0);
  t.equal(s.backlogRemaining, 100);
  const order: string[] = [];
  const sent: Array<{ id: number; historical: boolean }> = [];
  for (let step = 0; step < 40; step++) {
    if (step % 2 === 0) store.append(3); // live keeps arriving
    const d = s.plan(store.newest, 0);
    if (d.type === 'idle') break;
    const p = asRead(d);
    const ids = store.read(p);
    s.issued(p, ids);
    order.push(p.source[0] as string);
    for (const id of ids) sent.push({ id, historical: p.historical });
  }
  t.equal(order.slice(0, 9).join(''), 'bblbblbbl', 'two backlog batches, then one live batch');
  const backlog = sent.filter((x) => x.historical).map((x) => x.id);
  t.same(backlog, Array.from({ length: 100 }, (_, i) => i + 1), 'the whole backlog, in order, marked historical');
  const live = sent.filter((x) => !x.historical).map((x) => x.id);
  t.ok(live.every((id) => id > 100), 'live items are not historical');
  t.same(live, [...live].sort((a, b) => a - b), 'live in order');
  t.equal(live.length, store.newest - 100, 'every live item sent');
  t.equal(s.replaying, false);
});

t.test('without live traffic the backlog goes back to back', async (t) => {
  const store = new Store();
  store.append(35);
  const s = new ReplayScheduler({ batchSize: 10, backlogBatchesPerLive: 1 });
  s.resume(0, 35, 0);
  const sizes: number[] = [];
  for (let d = s.plan(store.newest, 0); d.type === 'read'; d = s.plan(store.newest, 0)) {
    const ids = store.read(d);
    s.issued(d, ids);
    sizes.push(ids.length);
  }
  t.same(sizes, [10, 10, 10, 5]);
});

t.test('the backlog rate cap waits, live is never capped', async (t) => {
  const store = new Store();
  store.append(50);
  const s = new ReplayScheduler({ batchSize: 10, maxBacklogPerSecond: 20 });
  s.resume(0, 50, 0);
  let p = asRead(s.plan(store.newest, 0));
  t.equal(p.limit, 10, 'a full batch at once (bucket of one batch)');
  s.issued(p, store.read(p));
  t.same(s.plan(store.newest, 0), { type: 'wait', ms: 50 }, 'one token every 50 ms');
  store.append(4);
  p = asRead(s.plan(store.newest, 0));
  t.equal(p.source, 'live', 'live goes while the backlog waits for tokens');
  s.issued(p, store.read(p));
  p = asRead(s.plan(store.newest, 250));
  t.same([p.source, p.limit], ['backlog', 5], '250 ms later: 5 tokens');
  s.issued(p, store.read(p));
  p = asRead(s.plan(store.newest, 10_250));
  t.equal(p.limit, 10, 'the bucket holds no more than one batch');
});

t.test('maxInflight holds reads until acks come', async (t) => {
  const store = new Store();
  store.append(30);
  const s = new ReplayScheduler({ batchSize: 10, maxInflight: 15 });
  s.resume(0, 30, 0);
  let p = asRead(s.plan(store.newest, 0));
  s.issued(p, store.read(p));
  p = asRead(s.plan(store.newest, 0));
  t.equal(p.limit, 5);
  s.issued(p, store.read(p));
  t.same(s.plan(store.newest, 0), { type: 'full' });
  t.equal(s.inflightCount, 15);
  s.acked(3);
  t.equal(asRead(s.plan(store.newest, 0)).limit, 1);
});

t.test('out-of-order acks give a contiguous watermark that stays in the backlog until it is through', async (t) => {
  const store = new Store();
  store.append(6); // 1..6: 1..2 acked before the outage, 3..6 backlog
  const s = new ReplayScheduler({ batchSize: 2 });
  s.resume(2, 6, 0);
  const b1 = asRead(s.plan(store.newest, 0));
  s.issued(b1, store.read(b1)); // 3, 4
  store.append(2); // 7, 8 live
  const l1 = asRead(s.plan(store.newest, 0));
  t.equal(l1.source, 'live');
  s.issued(l1, store.read(l1)); // 7, 8
  t.same(s.acked(7), null, 'live acked first: the backlog is not through');
  t.same(s.acked(8), null);
  t.same(s.acked(4), null, '3 still in flight');
  t.same(s.acked(3), { upTo: 4, replayed: 2 });
  const b2 = asRead(s.plan(store.newest, 0));
  t.equal(b2.source, 'backlog');
  s.issued(b2, store.read(b2)); // 5, 6: the backlog is through
  t.equal(s.replaying, false);
  t.same(s.acked(6), null);
  t.same(s.acked(5), { upTo: 8, replayed: 2 }, 'jumps over the live items acked earlier');
});

t.test('ids missing from the backlog (dropped by a bound) do not stall it', async (t) => {
  const store = new Store();
  store.append(20);
  store.ids = store.ids.filter((id) => id > 12); // 1..12 dropped
  const s = new ReplayScheduler({ batchSize: 5 });
  s.resume(0, 20, 0);
  const p = asRead(s.plan(store.newest, 0));
  t.same(store.read(p), [13, 14, 15, 16, 17]);
  s.issued(p, store.read(p));
  t.same(s.acked(17), { upTo: 12, replayed: 1 }, 'dropped ids 1..12 are passed at once');
  for (const id of [16, 15, 14]) t.equal(s.acked(id), null);
  t.same(s.acked(13), { upTo: 17, replayed: 4 });
  const p2 = asRead(s.plan(store.newest, 0));
  s.issued(p2, store.read(p2));
  t.equal(s.replaying, false, 'fewer than asked: the backlog range is exhausted');
  store.ids = [];
  const s2 = new ReplayScheduler({ batchSize: 5 });
  s2.resume(0, 20, 0);
  const p3 = asRead(s2.plan(20, 0));
  s2.issued(p3, []);
  t.equal(s2.replaying, false, 'an empty read ends the backlog');
  t.same(s2.plan(20, 0), { type: 'idle' });
});

t.test('resume after a second outage forgets what was in flight', async (t) => {
  const store = new Store();
  store.append(10);
  const s = new ReplayScheduler({ batchSize: 10 });
  s.resume(10, 10, 0);
  store.append(5);
  const p = asRead(s.plan(store.newest, 0));
  s.issued(p, store.read(p));
  s.acked(11);
  s.resume(11, 15, 1000); // disconnected: 12..15 unacknowledged become backlog
  t.equal(s.inflightCount, 0);
  const b = asRead(s.plan(store.newest, 1000));
  t.same([b.source, b.after, b.upTo, b.historical], ['backlog', 11, 15, true]);
  t.throws(() => new ReplayScheduler({ batchSize: 0 }));
  t.throws(() => new ReplayScheduler({ batchSize: 1 }).plan(0, 0), /resume/);
});
