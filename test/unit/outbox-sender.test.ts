import { performance } from 'node:perf_hooks';
import t, { type Test } from 'tap';
import Database from 'better-sqlite3';
import { ManualClock } from '../../gateway/clock.js';
import { silentLogger } from '../../gateway/log.js';
import { Outbox, type OutboxItem } from '../../gateway/publish/outbox.js';
import { OutboxSender, type OutboxSenderOptions } from '../../gateway/publish/outbox-sender.js';
import type { Delivery, OutboxKind, Sink, SinkLink } from '../../gateway/publish/sink.js';

const T0 = Date.parse('2024-05-01T08:00:00.000Z');

interface Delivered {
  ids: number[];
  kinds: string[];
  historical: boolean;
  delivery: Delivery;
}

/**
 * A scripted sink: records every `deliver` (the test acknowledges or fails them through the recorded
 * Delivery), answers probes from a script (false once the script is used up) and records when it was probed.
 */
class FakeSink implements Sink {
  readonly name = 'fake';
  readonly reachable = true;
  readonly kinds: ReadonlySet<OutboxKind>;
  readonly batchSize: number;
  readonly maxInflight: number;
  readonly lingerMs: number;
  link: SinkLink | undefined;
  readonly deliveries: Delivered[] = [];
  readonly acked = new Set<number>();
  readonly probeAnswers: boolean[] = [];
  readonly probedAt: number[] = [];

  constructor(opts: { kinds?: OutboxKind[]; batchSize?: number; maxInflight?: number; lingerMs?: number } = {}) {
    this.kinds = new Set(opts.kinds ?? ['event']);
    this.batchSize = opts.batchSize ?? 10;
    this.maxInflight = opts.maxInflight ?? 1000;
    this.lingerMs = opts.lingerMs ?? 0;
  }

  async start(link: SinkLink): Promise<void> {
    this.link = link;
  }

  deliver(items: readonly OutboxItem[], historical: boolean, delivery: Delivery): void {
    this.deliveries.push({ ids: items.map((i) => i.id), kinds: items.map((i) => i.kind), historical, delivery });
  }

  async probe(): Promise<boolean> {
    this.probedAt.push(performance.now());
    return this.probeAnswers.shift() ?? false;
  }

  async stop(): Promise<void> {}

  /** `[historical, ids]` of every delivery so far. */
  get log(): Array<[boolean, number[]]> {
    return this.deliveries.map((d) => [d.historical, d.ids]);
  }

  /** Acknowledges ids through the delivery `index` that carried them (in the given order). */
  ack(index: number, ...ids: number[]): void {
    const d = this.deliveries[index];
    if (d === undefined) throw new Error(`no delivery #${index}`);
    for (const id of ids) {
      if (!d.ids.includes(id)) throw new Error(`delivery #${index} did not carry ${id}`);
      this.acked.add(id);
      d.delivery.acked(id);
    }
  }

  /** Ids delivered (by any delivery) and not acknowledged. */
  get outstanding(): number[] {
    return [...new Set(this.deliveries.flatMap((d) => d.ids))].filter((id) => !this.acked.has(id)).sort((a, b) => a - b);
  }
}

interface Rig {
  clock: ManualClock;
  outbox: Outbox;
  sink: FakeSink;
  sender: OutboxSender;
  /** Appends items of these kinds (one each) and returns their ids. */
  append(...kinds: string[]): number[];
  /** The durable cursor, once acks recorded so far are flushed (the sender writes them a microtask later). */
  cursor(): Promise<number>;
  replayed(): Promise<number>;
}

async function rig(t: Test, sinkOpts: ConstructorParameters<typeof FakeSink>[0] = {}, senderOpts: Partial<OutboxSenderOptions> = {}): Promise<Rig> {
  const clock = new ManualClock(T0);
  const db = new Database(':memory:');
  const outbox = Outbox.onDatabase(db, { logger: silentLogger, clock });
  const sink = new FakeSink(sinkOpts);
  outbox.registerSink(sink.name, { kinds: [...sink.kinds] });
  // retryMs large by default: no probe fires unless a test asks for it.
  const sender = new OutboxSender(outbox, sink, { clock, logger: silentLogger, retryMs: 60_000, maxRetryMs: 60_000, ...senderOpts });
  t.teardown(() => {
    sender.stop();
    outbox.close();
    db.close();
  });
  let n = 0;
  return {
    clock,
    outbox,
    sink,
    sender,
    append: (...kinds) => outbox.append(kinds.map((kind) => ({ kind, payload: `${kind}-${++n}`, ts: T0 + n }))),
    cursor: async () => {
      await flushed();
      return outbox.cursor(sink.name);
    },
    replayed: async () => {
      await flushed();
      return outbox.stats().sinks[sink.name]?.replayed ?? -1;
    },
  };
}

/** Lets queued microtasks run (the sender records a burst of acks in one outbox transaction, a microtask later). */
async function flushed(): Promise<void> {
  await new Promise<void>((resolve) => queueMicrotask(resolve));
}

/** Starts the sender and says the sink is up (as MQTT does once connected). */
async function startUp(r: Rig): Promise<void> {
  await r.sender.start();
  up(r);
}

function up(r: Rig): void {
  if (!r.sink.link) throw new Error('sink not started');
  r.sink.link.up();
}

/** Lets queued pumps (setImmediate) and their follow-ups run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 4; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

t.test('backlog before up is historical in id order, later appends are live; uncarried kinds are acked for the sink', async (t) => {
  const r = await rig(t, { kinds: ['event'], batchSize: 2 });
  t.same(r.append('event', 'reading', 'event', 'event', 'event'), [1, 2, 3, 4, 5]);
  await r.sender.start();
  await settle();
  t.same(r.sink.log, [], 'nothing before the sink is up');
  up(r);
  // Reads of 2 ids: [1, 2] (2 not carried), [3, 4], [5].
  t.same(r.sink.log, [
    [true, [1]],
    [true, [3, 4]],
    [true, [5]],
  ]);
  t.ok(r.sink.deliveries.every((d) => d.kinds.every((k) => k === 'event')), 'the reading is never delivered');
  t.equal(await r.cursor(), 0, 'reading 2 acked for the sink, but 1 is not yet');

  t.same(r.append('event', 'reading', 'event'), [6, 7, 8]);
  r.sender.kick(true);
  await settle();
  // Reads of 2 ids: [6, 7] (7 not carried), [8].
  t.same(r.sink.log.slice(3), [
    [false, [6]],
    [false, [8]],
  ], 'appended after up: live');

  r.sink.ack(0, 1);
  t.equal(await r.cursor(), 2, 'ack 1 passes the uncarried 2 and stops before 3 (in flight)');
  r.sink.ack(1, 3, 4);
  r.sink.ack(2, 5);
  t.equal(await r.cursor(), 5);
  r.sink.ack(3, 6);
  r.sink.ack(4, 8);
  t.equal(await r.cursor(), 8, 'the uncarried 7 is passed');
  t.equal(await r.replayed(), 4, 'historical items the sink acked: 1, 3, 4, 5 (not the uncarried 2)');

  t.same(r.append('reading', 'reading'), [9, 10]);
  r.sender.kick(true);
  await settle();
  t.equal(r.sink.deliveries.length, 5, 'no deliver call for uncarried kinds only');
  t.equal(await r.cursor(), 10, 'the cursor passes them');
  t.equal(r.outbox.stats().sinks.fake?.buffered, 0);
});

t.test('acks out of order: the durable cursor moves only to the contiguous watermark', async (t) => {
  const r = await rig(t, { batchSize: 10 });
  t.same(r.append('event', 'event', 'event', 'event'), [1, 2, 3, 4]);
  await startUp(r);
  t.same(r.sink.log, [[true, [1, 2, 3, 4]]]);
  t.same(r.append('event', 'event'), [5, 6]);
  r.sender.kick(true);
  await settle();
  t.same(r.sink.log, [
    [true, [1, 2, 3, 4]],
    [false, [5, 6]],
  ]);

  r.sink.ack(1, 6, 5);
  t.equal(await r.cursor(), 0, 'live acked first: the watermark stays before the backlog');
  t.equal(await r.replayed(), 0);
  r.sink.ack(0, 2);
  t.equal(await r.cursor(), 0, '1 still outstanding');
  t.equal(await r.replayed(), 0, 'counted when the watermark moves');
  r.sink.ack(0, 1);
  t.equal(await r.cursor(), 2);
  t.equal(await r.replayed(), 2, 'historical 1 and 2');
  r.sink.ack(0, 4);
  t.equal(await r.cursor(), 2, '3 still outstanding');
  r.sink.ack(0, 3);
  t.equal(await r.cursor(), 6, 'everything through the live 6');
  t.equal(await r.replayed(), 4, 'historical 1-4; live 5 and 6 are not replayed');
  r.sink.ack(0, 3);
  t.equal(await r.cursor(), 6, 'a duplicate ack changes nothing');
  t.equal(await r.replayed(), 4);
});

t.test('a failed delivery stops the loop; the sink is probed with backoff; after a good probe the unacked items come again as historical', async (t) => {
  const r = await rig(t, { batchSize: 10 }, { retryMs: 10, maxRetryMs: 80 });
  await startUp(r);
  t.same(r.append('event', 'event', 'event'), [1, 2, 3]);
  r.sender.kick(true);
  await settle();
  t.same(r.append('event', 'event'), [4, 5]);
  r.sender.kick(true);
  await settle();
  t.same(r.sink.log, [
    [false, [1, 2, 3]],
    [false, [4, 5]],
  ]);
  r.sink.ack(0, 1);
  r.sink.ack(1, 4);
  t.equal(await r.cursor(), 1);

  r.sink.probeAnswers.push(false, false, false, false, true);
  const failedAt = performance.now();
  r.sink.deliveries[0]?.delivery.failed(new Error('broker went away'));
  t.equal(r.sender.up, false, 'a failure takes the sender down');
  t.same(r.append('event'), [6]);
  r.sender.kick(true);
  await settle();
  t.equal(r.sink.deliveries.length, 2, 'no delivery while down');

  await waitFor('the sender to be up again', () => r.sender.up);
  t.equal(r.sink.probedAt.length, 5, 'probed until the sink answered');
  const times = [failedAt, ...r.sink.probedAt];
  const gaps = times.slice(1).map((at, i) => at - (times[i] as number));
  // Backoff 10, 20, 40, 80, 80 ms (doubling, capped at maxRetryMs); timers never fire early (1 ms rounding).
  for (const [i, min] of [10, 20, 40, 80, 80].entries()) t.ok((gaps[i] as number) >= min - 1, `probe ${i + 1} after >= ${min} ms (${gaps[i]?.toFixed(1)})`);
  t.ok((gaps[4] as number) < 140, `the last delay is capped at 80 ms, not doubled to 160 (${gaps[4]?.toFixed(1)})`);

  t.same(r.sink.log.slice(2), [[true, [2, 3, 4, 5, 6]]], 'resumed from the durable cursor 1: 4 was acked but not durable, so it comes again');
  r.sink.ack(2, 2, 3, 4, 5, 6);
  t.equal(await r.cursor(), 6);
  t.equal(await r.replayed(), 5);

  // After an up the backoff starts over at retryMs (not at the 80 ms reached before).
  r.sink.probeAnswers.push(true);
  t.same(r.append('event'), [7]);
  r.sender.kick(true);
  await settle();
  t.same(r.sink.log.slice(3), [[false, [7]]]);
  const failedAgainAt = performance.now();
  r.sink.deliveries[3]?.delivery.failed(new Error('again'));
  await waitFor('the sender to be up again', () => r.sender.up);
  const firstGap = (r.sink.probedAt[5] as number) - failedAgainAt;
  t.ok(firstGap >= 9 && firstGap < 60, `first probe after the second failure after ~10 ms (${firstGap.toFixed(1)})`);
  t.same(r.sink.log.slice(4), [[true, [7]]]);
});

t.test('link.down stops deliveries; link.up resumes from the durable cursor', async (t) => {
  const r = await rig(t, { batchSize: 10 });
  await startUp(r);
  t.same(r.append('event', 'event', 'event'), [1, 2, 3]);
  r.sender.kick(true);
  await settle();
  r.sink.ack(0, 1);
  t.equal(await r.cursor(), 1);

  r.sink.link?.down('connection lost');
  t.equal(r.sender.up, false);
  t.same(r.append('event', 'event'), [4, 5]);
  r.sender.kick(true);
  r.sender.kick(false);
  await settle();
  t.same(r.sink.log, [[false, [1, 2, 3]]], 'nothing delivered while down');

  up(r);
  t.equal(r.sender.up, true);
  t.same(r.sink.log.slice(1), [[true, [2, 3, 4, 5]]], 'in flight at the down (2, 3) and appended while down (4, 5): historical');
  t.same(r.append('event'), [6]);
  r.sender.kick(true);
  await settle();
  t.same(r.sink.log.slice(2), [[false, [6]]]);
  r.sink.ack(1, 2, 3, 4, 5);
  r.sink.ack(2, 6);
  t.equal(await r.cursor(), 6);
});

t.test('linger: a non-urgent kick waits for a full batch or lingerMs; an urgent one goes at once', async (t) => {
  const lingerMs = 80;
  const r = await rig(t, { batchSize: 3, lingerMs });
  await startUp(r);

  // One item, non-urgent: waits lingerMs.
  t.same(r.append('event'), [1]);
  const kickedAt = performance.now();
  r.sender.kick(false);
  await settle();
  await sleep(30);
  t.same(r.sink.log, [], 'not before lingerMs');
  await waitFor('the lingered delivery', () => r.sink.deliveries.length === 1);
  t.ok(performance.now() - kickedAt >= lingerMs - 1, 'after lingerMs');
  t.same(r.sink.log, [[false, [1]]]);
  r.sink.ack(0, 1);
  // An ack queues a pump, and a pump reads every live item waiting: let it run before appending.
  await settle();

  // A full batch goes without waiting.
  t.same(r.append('event'), [2]);
  r.sender.kick(false);
  t.same(r.append('event'), [3]);
  r.sender.kick(false);
  await settle();
  t.same(r.sink.log.slice(1), [], '2 of 3: waiting');
  t.same(r.append('event'), [4]);
  r.sender.kick(false);
  await settle();
  t.same(r.sink.log.slice(1), [[false, [2, 3, 4]]], 'batchSize reached: at once');
  r.sink.ack(1, 2, 3, 4);

  // The next item waits its own lingerMs, not what is left of the window opened for item 2.
  await sleep(50);
  t.same(r.append('event'), [5]);
  const kicked5At = performance.now();
  r.sender.kick(false);
  await sleep(50);
  await settle();
  t.same(r.sink.log.slice(2), [], `item 5 still lingering 50 ms after its kick (${(performance.now() - kicked5At).toFixed(1)} ms)`);
  await waitFor('item 5', () => r.sink.deliveries.length === 3);
  t.ok(performance.now() - kicked5At >= lingerMs - 1, 'item 5 waited lingerMs');
  r.sink.ack(2, 5);

  // Urgent: at once.
  t.same(r.append('event'), [6]);
  r.sender.kick(true);
  await settle();
  t.same(r.sink.log.slice(3), [[false, [6]]], 'urgent: no linger');
  r.sink.ack(3, 6);
  t.equal(await r.cursor(), 6);
});

t.test('maxInflight bounds what is delivered and not acknowledged', async (t) => {
  const r = await rig(t, { batchSize: 10, maxInflight: 3 });
  t.same(r.append('event', 'event', 'event', 'event'), [1, 2, 3, 4]);
  await startUp(r);
  t.same(r.sink.log, [[true, [1, 2, 3]]], 'backlog: 3 of 4');
  t.same(r.append('event', 'event'), [5, 6]);
  r.sender.kick(true);
  await settle();
  t.same(r.sink.outstanding, [1, 2, 3], 'full: nothing more');

  r.sink.ack(0, 2);
  await settle();
  t.same(r.sink.log.slice(1), [[false, [5]]], 'one ack lets one item through (live first after a backlog batch)');
  t.same(r.sink.outstanding, [1, 3, 5]);
  t.equal(await r.cursor(), 0);

  r.sink.ack(0, 1, 3);
  await settle();
  t.same(r.sink.log.slice(2), [
    [true, [4]],
    [false, [6]],
  ]);
  t.same(r.sink.outstanding, [4, 5, 6]);
  t.equal(await r.cursor(), 3);

  t.same(r.append('event', 'event', 'event'), [7, 8, 9]);
  r.sender.kick(true);
  await settle();
  t.same(r.sink.outstanding, [4, 5, 6], 'still full');
  r.sink.ack(1, 5);
  r.sink.ack(3, 6);
  await settle();
  t.same(r.sink.log.slice(4), [[false, [7, 8]]]);
  t.same(r.sink.outstanding, [4, 7, 8]);
  t.equal(await r.cursor(), 3, '4 holds the watermark');
  r.sink.ack(2, 4);
  t.equal(await r.cursor(), 6);
  await settle();
  t.same(r.sink.log.slice(5), [[false, [9]]]);
  t.same(r.sink.outstanding, [7, 8, 9]);
  r.sink.ack(4, 7, 8);
  r.sink.ack(5, 9);
  t.equal(await r.cursor(), 9);
  t.same(r.sink.outstanding, []);
});

t.test('drain resolves true once everything is acked, false on timeout or when down', async (t) => {
  const r = await rig(t, { batchSize: 10 });
  await r.sender.start();
  t.equal(await r.sender.drain(1000), true, 'nothing appended: drained');
  t.same(r.append('event'), [1]);
  t.equal(await r.sender.drain(1000), false, 'down with an undelivered item: false at once');

  up(r);
  t.same(r.sink.log, [[true, [1]]]);
  t.same(r.append('event', 'event'), [2, 3]);
  let result: boolean | undefined;
  const draining = r.sender.drain(1000).then((ok) => (result = ok));
  await settle();
  t.same(r.sink.log.slice(1), [[false, [2, 3]]], 'drain pumps what was not kicked');
  r.sink.ack(0, 1);
  r.sink.ack(1, 2);
  await sleep(60);
  t.equal(result, undefined, '3 not acked: still draining');
  r.sink.ack(1, 3);
  t.equal(await draining, true);

  // Timeout (measured on the injected clock).
  t.same(r.append('event'), [4]);
  result = undefined;
  const timingOut = r.sender.drain(1000).then((ok) => (result = ok));
  await sleep(60);
  t.equal(result, undefined, 'before the timeout');
  r.clock.advance(1000);
  // drain's poll timer is unref'd: keep the loop alive while it notices the deadline.
  await waitFor('drain to time out', () => result !== undefined);
  t.equal(await timingOut, false, 'timed out');
  t.same(r.sink.outstanding, [4]);

  // Down while draining.
  result = undefined;
  const goingDown = r.sender.drain(60_000).then((ok) => (result = ok));
  await settle();
  t.equal(result, undefined);
  r.sink.link?.down('gone');
  t.equal(await goingDown, false, 'down: false');
  t.equal(await r.cursor(), 3);
});

t.test('results of a delivery from an earlier connection do not disturb the current one', async (t) => {
  const r = await rig(t, { batchSize: 10 });
  await startUp(r);
  t.same(r.append('event', 'event', 'event'), [1, 2, 3]);
  r.sender.kick(true);
  await settle();
  r.sink.link?.down('reconnecting');
  up(r);
  t.same(r.sink.log, [
    [false, [1, 2, 3]],
    [true, [1, 2, 3]],
  ]);
  const [old, current] = r.sink.deliveries;

  old?.delivery.acked(3);
  old?.delivery.failed(new Error('late error from the old connection'));
  t.equal(r.sender.up, true, 'a stale failure does not take the sender down');
  t.equal(await r.cursor(), 0, 'a stale ack does not move the cursor');
  t.same(r.append('event'), [4]);
  r.sender.kick(true);
  await settle();
  t.same(r.sink.log.slice(2), [[false, [4]]], 'still delivering');

  current?.delivery.acked(1);
  current?.delivery.acked(2);
  t.equal(await r.cursor(), 2, 'the stale ack of 3 does not count for this connection');
  old?.delivery.acked(1);
  old?.delivery.acked(2);
  t.equal(await r.cursor(), 2);
  current?.delivery.acked(3);
  r.sink.ack(2, 4);
  t.equal(await r.cursor(), 4);
  t.equal(await r.replayed(), 3, 'only the current connection counts its historical 1-3');
});
