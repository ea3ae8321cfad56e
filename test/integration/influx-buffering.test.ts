/**
 * InfluxDB down at start: the gateway keeps running, outage events wait in the bounded buffer (oldest dropped
 * first, counted) and are written once the server comes up, each as its own point even when two share a
 * millisecond and tags.
 */
import t from 'tap';
import { silentLogger } from '../../gateway/log.js';
import { InfluxPublisher } from '../../gateway/publish/influx-publisher.js';
import type { Outage, OutageRestoredEvent } from '../../gateway/engine/events.js';
import { eventually, influxQuery } from '../helpers/demo-stack.js';
import { freePort, startInfluxd } from '../helpers/services.js';

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

t.test('buffered while down, bounded, written when the server appears, no overwrite within a millisecond', async (t) => {
  const port = await freePort();
  const publisher = new InfluxPublisher(
    { host: '127.0.0.1', port, protocol: 'http', database: 'buf' },
    { logger: silentLogger, devices: [], batchSize: 2, flushIntervalMs: 100, maxBufferedPoints: 5 },
  );
  const startedAt = Date.now();
  await publisher.start();
  t.ok(Date.now() - startedAt < 1000, 'start() does not wait for an unreachable server');
  publisher.publishEvents([1, 2, 3, 4, 5, 6, 7, 8].map((n) => restored(n, `O-${n}`)));
  await new Promise((r) => setTimeout(r, 300));
  const before = publisher.getStats();
  t.equal(before.reachable, false);
  t.equal(before.buffered, 5, 'bounded at 5 points');
  t.equal(before.dropped, 3, 'the 3 oldest dropped and counted');
  t.equal(before.written, 0);

  const influx = await startInfluxd({ port });
  t.teardown(async () => {
    await publisher.stop();
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
  const after = publisher.getStats();
  t.equal(after.written, 5);
  t.equal(after.buffered, 0);
  t.equal(after.reachable, true);
});
