/**
 * Reliability indices from a real outage: the demo site (17 customers on 6 transformers), a recloser trip
 * repaired within seconds. Under DL/T 836 (3 min) that is a momentary interruption for the 8 customers (3
 * transformers) behind F1-R1, so by hand:
 *   meter basis:       SAIFI 0, SAIDI 0, MAIFIe = 8 / 17 = 0.470588
 *   transformer basis: SAIFI 0, SAIDI 0, MAIFIe = 3 / 6  = 0.5
 * The indices reach InfluxDB (measurement `reliability`) once the outage is restored, and the retained MQTT
 * topic `<root>/reliability` (valid against its schema) carries the same figures to a late subscriber.
 */
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReliabilityReport } from '../../gateway/reliability/report.js';
import { control, eventually, influxQuery, startDemoStack } from '../helpers/demo-stack.js';
import { MqttRecorder } from '../helpers/mqtt-recorder.js';
import { startInfluxd, startMosquitto } from '../helpers/services.js';

const DB = 'fw_rel';

t.test('a momentary recloser outage moves MAIFIe on both bases, not SAIFI', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fw-rel-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const [broker, influx] = await Promise.all([startMosquitto(), startInfluxd()]);
  t.teardown(async () => {
    await Promise.all([broker.stop(), influx.stop()]);
  });
  const stack = await startDemoStack({ mqttUrl: broker.url, influx: { host: influx.host, port: influx.port, database: DB }, stateDir: dir });
  t.teardown(() => stack.stop());
  await eventually('every device online', async () => (stack.gateway.status().devices.every((d) => d.state === 'online') ? true : undefined), 10_000);

  await control(stack.controlUrl, 'POST', '/faults', { section: 'F1-S3' });
  await eventually('outage', async () => (stack.gateway.status().activeOutages.length === 1 ? true : undefined), 5000);
  await control(stack.controlUrl, 'DELETE', '/faults/F1-S3');
  await control(stack.controlUrl, 'POST', '/switches/F1-R1', { position: 'closed' });
  await eventually('restored', async () => (stack.gateway.status().activeOutages.length === 0 ? true : undefined), 5000);

  const query = (basis: string): Promise<Array<Record<string, unknown>>> =>
    influxQuery(influx.url, DB, `SELECT last("maifie") AS maifie, last("saifi") AS saifi, last("saidi_h") AS saidi, last("momentary_events") AS events FROM "reliability" WHERE "period" = 'yearToDate' AND "basis" = '${basis}' AND "scope" = 'site'`);
  const meter = await eventually('meter-basis indices with the outage', async () => {
    const rows = await query('meter');
    return Number(rows[0]?.maifie) > 0 ? rows[0] : undefined;
  }, 10_000);
  t.equal(Number(meter.maifie).toFixed(6), '0.470588', 'MAIFIe, meter basis: 8 / 17');
  t.equal(Number(meter.saifi), 0, 'a momentary is not sustained');
  t.equal(Number(meter.saidi), 0);
  const transformer = (await query('transformer'))[0];
  t.equal(Number(transformer?.maifie).toFixed(6), '0.500000', 'MAIFIe, transformer basis: 3 / 6');
  t.equal(Number(transformer?.saifi), 0);

  // A subscriber arriving now gets the latest indices at once: retained, and valid against the contract.
  const late = await MqttRecorder.connect(broker.url, 'feederwatch/v1/demo-xixi/reliability', { validate: true });
  t.teardown(() => late.close());
  const message = await late.waitFor('retained indices with the momentary', (m) => m.retain && (JSON.parse(m.payload) as ReliabilityReport).periods.yearToDate.bases.meter.site.maifie > 0, 10_000);
  const report = JSON.parse(message.payload) as ReliabilityReport;
  t.equal(report.periods.yearToDate.bases.meter.site.maifie.toFixed(6), '0.470588', 'retained MAIFIe, meter basis: 8 / 17');
  t.equal(report.periods.yearToDate.bases.transformer.site.maifie.toFixed(6), '0.500000', 'retained MAIFIe, transformer basis: 3 / 6');
  t.equal(report.periods.yearToDate.bases.meter.site.saifi, 0);
  t.same(late.violations, [], 'the retained report matches reliability.schema.json');
});
