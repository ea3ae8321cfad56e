/**
 * InfluxDB down at start: outage events wait in the bounded outbox (oldest dropped first, counted per sink)
 * and are written once the server comes up, each as its own point even when two share a millisecond and tags;
 * the database and its retention policies are created when the server is found.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { systemClock } from '../../gateway/clock.js';
import { silentLogger } from '../../gateway/log.js';
import { InfluxPublisher } from '../../gateway/publish/influx-publisher.js';
import { Outbox, itemBytes } from '../../gateway/publish/outbox.js';
import { OutboxSender } from '../../gateway/publish/outbox-sender.js';
import { eventItem } from '../../gateway/runtime/state-store.js';
import type { Outage, OutageRestoredEvent } from '../../gateway/engine/events.js';
import { eventually, influxQuery } from '../helpers/demo-stack.js';
import { servicePort, startInfluxd } from '../helpers/services.js';

function restored(seq: number, id: string): OutageRestoredEvent {
  const outage: Outage = {
    id,
    siteId: 'buf',
    state: 'restored',
    kind: 'unplanned',
    cause: 'switchOpened',
    confidence: 'measured',
    evidence: [],
    parentId: null,
    mergedInto: null,
    plannedId: null,
    causeDevice: 'SW1',
    faultSection: null,
    startedAt: '2026-01-01T00:00:00.000Z',
    restoredAt: '2026-01-01T00:10:00.000Z',
    durationMs: 600_000,
    feederIds: ['F1'],
    sections: ['S1'],
    transformers: ['T1'],
    customers: ['C1', 'C2'],
    customerCount: 2,
    currentSections: [],
    currentCustomerCount: 0,
    restorations: [],
    customerMinutes: 20,
  };
  // Every event at the same millisecond with the same tags: only the sequence number tells them apart.
  return { id: `buf:${seq}`, seq, siteId: 'buf', ts: '2026-01-01T00:10:00.000Z', type: 'outage.restored', outage };
}

t.test('kept in the outbox while down, bounded, written when the server appears, no overwrite within a millisecond', async (t) => {
  // Below the ephemeral range: nothing else takes it while the publisher probes it (see servicePort).
  const port = await servicePort();
  const items = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => eventItem(restored(n, `O-${n}`)));
  // Every item has the same size: a bound of five items' bytes keeps the five newest.
  const db = new Database(':memory:');
  const outbox = Outbox.onDatabase(db, { logger: silentLogger, maxBytes: 5 * itemBytes(items[0]!) });
  outbox.registerSink('influx');
  const publisher = new InfluxPublisher(
    { host: '127.0.0.1', port, protocol: 'http', database: 'buf', retention: { telemetry: '30d', events: '52w' } },
    { logger: silentLogger, devices: [], batchSize: 2, flushIntervalMs: 100 },
  );
  const sender = new OutboxSender(outbox, publisher, { clock: systemClock, logger: silentLogger, retryMs: 200, maxRetryMs: 1000 });
  const startedAt = Date.now();
  await sender.start();
  t.ok(Date.now() - startedAt < 1000, 'start() does not wait for an unreachable server');
  outbox.append(items);
  sender.kick(true);
  await new Promise((r) => setTimeout(r, 300));
  const before = outbox.stats().sinks.influx;
  t.equal(publisher.reachable, false);
  t.equal(before?.buffered, 5, 'bounded at 5 items');
  t.same(before?.dropped, { bytes: 3, age: 0 }, 'the 3 oldest dropped and counted');
  t.equal(publisher.getStats().written, 0);

  const influx = await startInfluxd({ port });
  t.teardown(async () => {
    sender.stop();
    await publisher.stop();
    db.close();
    await influx.stop();
  });
  const rows = await eventually(
    'buffered outages written',
    async () => {
      const r = await influxQuery(influx.url, 'buf', 'SELECT "id", "seq" FROM "outage" ORDER BY time');
      return r.length >= 5 ? r : undefined;
    },
    20_000,
  );
  t.same(
    rows.map((r) => r.id),
    ['O-4', 'O-5', 'O-6', 'O-7', 'O-8'],
    'the five newest, in order, none overwriting another',
  );
  await eventually('outbox emptied', async () => (outbox.stats().sinks.influx?.buffered === 0 ? true : undefined), 5000);
  t.equal(publisher.getStats().written, 5);
  t.equal(publisher.reachable, true);
  t.equal(outbox.stats().sinks.influx?.replayed, 5, 'written late: counted as replayed');

  const policies = await influxQuery(influx.url, 'buf', 'SHOW RETENTION POLICIES ON "buf"');
  const byName = Object.fromEntries(policies.map((p) => [p.name, { duration: p.duration, default: p.default }]));
  t.same(byName.feederwatch_telemetry, { duration: '720h0m0s', default: false }, 'telemetry kept 30 days');
  t.same(byName.feederwatch_events, { duration: '8736h0m0s', default: true }, 'events kept 52 weeks, the default policy');
});

t.test('points the server refuses for good are skipped and counted, the rest of the batch is written', async (t) => {
  const influx = await startInfluxd();
  const db = new Database(':memory:');
  const outbox = Outbox.onDatabase(db, { logger: silentLogger });
  outbox.registerSink('influx');
  const publisher = new InfluxPublisher({ host: '127.0.0.1', port: influx.port, protocol: 'http', database: 'refuse' }, { logger: silentLogger, devices: [], flushIntervalMs: 50 });
  const sender = new OutboxSender(outbox, publisher, { clock: systemClock, logger: silentLogger, retryMs: 100, maxRetryMs: 200 });
  t.teardown(async () => {
    sender.stop();
    await publisher.stop();
    db.close();
    await influx.stop();
  });
  await sender.start();
  await eventually('InfluxDB found', async () => (publisher.reachable ? true : undefined), 10_000);
  // Someone wrote `seq` of `outage` as a string first, in the same shard (same week): the gateway's integer
  // `seq` now conflicts (HTTP 400, partial write).
  const pre = await fetch(`${influx.url}/write?db=refuse&rp=feederwatch_events&precision=s`, { method: 'POST', body: `outage,event=restored,kind=unplanned,cause=switchOpened seq="text" ${Date.parse('2026-01-01T00:00:00Z') / 1000}` });
  t.equal(pre.status, 204);
  const availability = { id: 'buf:3', seq: 3, siteId: 'buf', ts: '2026-01-01T00:10:00.000Z', type: 'device.availability', deviceId: 'ftu-1', state: 'offline', previousState: 'online', lastGoodAt: null, consecutiveErrors: 3, error: 'TIMEOUT' } as const;
  outbox.append([eventItem(restored(1, 'O-1')), eventItem(restored(2, 'O-2')), eventItem(availability)]);
  sender.kick(true);
  await eventually('batch acknowledged', async () => (outbox.stats().sinks.influx?.buffered === 0 ? true : undefined), 10_000);
  t.same(publisher.getStats(), { written: 1, failedWrites: 1, refused: 2, reachable: true }, 'the two conflicting outage points refused (partial write), the third written');
  t.equal(publisher.reachable, true, 'a refusal is not an outage of the server');
  const rows = await influxQuery(influx.url, 'refuse', 'SELECT "seq" FROM "device_availability"');
  t.same(rows.map((r) => r.seq), [3], 'the availability point of the same batch is written');
});
