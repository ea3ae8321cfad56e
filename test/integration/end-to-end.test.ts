/**
 * The whole product on real parts: the simulator serves the demo site over Modbus TCP, the gateway polls it,
 * a real Mosquitto carries what it publishes and a real InfluxDB 1.x stores it. A fault injected through the
 * simulator's control API must reach an MQTT subscriber as an outage with exactly the customers listed here.
 */
import t from 'tap';
import type { Outage } from '../../gateway/engine/events.js';
import { control, eventually, influxQuery, startDemoStack } from '../helpers/demo-stack.js';
import { MqttRecorder } from '../helpers/mqtt-recorder.js';
import { startInfluxd, startMosquitto } from '../helpers/services.js';

const ROOT = 'feederwatch/v1/demo-xixi';
const DB = 'fw_e2e';

// Hand-checked against the drawing in config/sites/demo.yaml: a fault on F1-S3 trips recloser F1-R1, which
// de-energizes F1-S2 (T102), F1-S3 (T103) and the fused lateral F1-S4 (T104).
const EXPECTED_SECTIONS = ['F1-S2', 'F1-S3', 'F1-S4'];
const EXPECTED_TRANSFORMERS = ['T102', 'T103', 'T104'];
const EXPECTED_CUSTOMERS = ['C10201', 'C10202', 'C10203', 'C10301', 'C10302', 'C10303', 'C10401', 'C10402'];

t.test('fault -> outage on MQTT and in InfluxDB -> restoration clears the retained outage', async (t) => {
  const [broker, influx] = await Promise.all([startMosquitto(), startInfluxd()]);
  t.teardown(async () => {
    await Promise.all([broker.stop(), influx.stop()]);
  });
  const recorder = await MqttRecorder.connect(broker.url, `${ROOT}/#`, { validate: true });
  t.teardown(() => recorder.close());
  const stack = await startDemoStack({ mqttUrl: broker.url, influx: { host: influx.host, port: influx.port, database: DB } });
  t.teardown(() => stack.stop());

  const birth = await recorder.waitFor('status birth', (m) => m.topic === `${ROOT}/status` && m.payload.includes('"online":true'), 5000);
  t.ok(birth.retain || JSON.parse(birth.payload).online === true, 'birth message published');
  // All 23 devices answer before the fault, so the test starts from a known, fully energized feeder.
  await eventually('every device online', async () => (stack.gateway.status().devices.every((d) => d.state === 'online') ? true : undefined), 10_000);
  t.same(stack.gateway.status().activeOutages, [], 'no outage before the fault');

  const faultAt = Date.now();
  await control(stack.controlUrl, 'POST', '/faults', { section: 'F1-S3' });
  const startedMsg = await recorder.waitFor('active outage', (m) => m.topic.startsWith(`${ROOT}/outages/`) && m.payload.includes('"state":"active"'), 5000, faultAt);
  const detectionMs = startedMsg.at - faultAt;
  t.ok(detectionMs < 5000, `outage published ${detectionMs} ms after the fault`);
  t.ok(startedMsg.retain === false || startedMsg.retain === true, 'delivered');
  const started = JSON.parse(startedMsg.payload) as Outage;
  t.equal(startedMsg.topic, `${ROOT}/outages/${started.id}`);
  t.same(started.customers, EXPECTED_CUSTOMERS, 'exactly the customers behind F1-R1');
  t.equal(started.customerCount, 8);
  t.same(started.sections, EXPECTED_SECTIONS);
  t.same(started.transformers, EXPECTED_TRANSFORMERS);
  t.same(started.feederIds, ['F1']);
  t.equal(started.cause, 'protectionTrip');
  t.equal(started.causeDevice, 'F1-R1');
  t.equal(started.siteId, 'demo-xixi');
  t.equal(started.restoredAt, null);

  // F1-LS1's fault flag arrives with its own poll: the fault is then located in F1-S3 (outage.updated).
  const locatedMsg = await recorder.waitFor('fault located', (m) => m.topic === startedMsg.topic && m.payload.includes('"faultSection":"F1-S3"'), 3000, faultAt);
  const located = JSON.parse(locatedMsg.payload) as Outage;
  t.equal(located.state, 'active');
  t.same(located.customers, EXPECTED_CUSTOMERS, 'locating the fault changes no scope');

  // The outage as a late subscriber sees it: retained on its topic.
  const late = await MqttRecorder.connect(broker.url, `${ROOT}/outages/+`);
  const retained = await late.waitFor('retained outage', (m) => m.topic === startedMsg.topic, 3000);
  t.equal(retained.retain, true, 'active outage is retained');
  await late.close();

  const event = await recorder.waitFor('outage.started event', (m) => m.topic === `${ROOT}/events` && m.payload.includes('"type":"outage.started"'), 3000);
  t.match(JSON.parse(event.payload), { type: 'outage.started', siteId: 'demo-xixi', outage: { id: started.id } });

  const stored = await eventually(
    'outage in InfluxDB',
    async () => {
      const rows = await influxQuery(influx.url, DB, `SELECT "id", "customerCount", "customers", "cause" FROM "outage" WHERE "id" = '${started.id}' AND "event" = 'started'`);
      return rows.length > 0 ? rows : undefined;
    },
    5000,
  );
  t.equal(stored.length, 1);
  t.equal(stored[0]?.customerCount, 8);
  t.equal(stored[0]?.customers, EXPECTED_CUSTOMERS.join(','));
  t.equal(stored[0]?.cause, 'protectionTrip');

  // Clear the fault and reclose: the outage ends with a duration, and its retained topic is cleared.
  await control(stack.controlUrl, 'DELETE', '/faults/F1-S3');
  const closeAt = Date.now();
  await control(stack.controlUrl, 'POST', '/switches/F1-R1', { position: 'closed' });
  const restoredMsg = await recorder.waitFor('restored outage', (m) => m.topic === startedMsg.topic && m.payload.includes('"state":"restored"'), 5000, closeAt);
  const restored = JSON.parse(restoredMsg.payload) as Outage;
  t.equal(restored.id, started.id);
  t.same(restored.customers, EXPECTED_CUSTOMERS);
  t.equal(restored.currentCustomerCount, 0);
  t.ok(restored.restoredAt !== null && restored.durationMs !== null);
  t.equal(restored.durationMs, Date.parse(restored.restoredAt ?? '') - Date.parse(restored.startedAt), 'duration = restoredAt - startedAt');
  t.ok((restored.durationMs ?? 0) > 0 && (restored.durationMs ?? 0) < closeAt - faultAt + 3000, `duration ${restored.durationMs} ms is plausible`);
  const cleared = await recorder.waitFor('retained outage cleared', (m) => m.topic === startedMsg.topic && m.payload === '', 3000, closeAt);
  t.ok(cleared, 'empty retained message clears the outage topic');

  // A new subscriber gets no retained outage any more.
  const after = await MqttRecorder.connect(broker.url, `${ROOT}/outages/+`);
  await new Promise((r) => setTimeout(r, 500));
  t.same(
    after.messages.filter((m) => m.payload !== ''),
    [],
    'no retained outage left',
  );
  await after.close();

  const restoredRows = await eventually(
    'restored outage in InfluxDB',
    async () => {
      const rows = await influxQuery(influx.url, DB, `SELECT "durationMs", "state" FROM "outage" WHERE "id" = '${started.id}' AND "event" = 'restored'`);
      return rows.length > 0 ? rows : undefined;
    },
    5000,
  );
  t.equal(restoredRows[0]?.durationMs, restored.durationMs);
  t.equal(restoredRows[0]?.state, 'restored');

  // Feeder F1 over the run: all live, then the 8 customers behind F1-R1 out (C10201-03, C10301-03, C10401-02),
  // then all live again; F2 never lost a customer.
  const f1 = await influxQuery(influx.url, DB, `SELECT "customersOut", "deenergizedSections" FROM "feeder_state" WHERE "feeder" = 'F1' ORDER BY time`);
  t.same(
    [...new Set(f1.map((r) => r.customersOut))],
    [0, 8],
    'feeder_state: F1 went from 0 to 8 customers out (and back)',
  );
  t.equal(f1.at(-1)?.customersOut, 0, 'F1 fully restored at the end');
  t.ok(f1.some((r) => r.customersOut === 8 && r.deenergizedSections === 3), 'F1-S2, F1-S3, F1-S4 dark while 8 were out');
  const f2 = await influxQuery(influx.url, DB, `SELECT max("customersOut") FROM "feeder_state" WHERE "feeder" = 'F2'`);
  t.equal(f2[0]?.max, 0, 'F2 never lost a customer');

  const telemetry = await influxQuery(influx.url, DB, `SELECT last("ua") FROM "feederwatch_telemetry"."meter" WHERE "customer" = 'C10101'`);
  t.ok(Number(telemetry[0]?.last) > 200, 'meter telemetry written (live meter near 220 V)');
  t.same(stack.gateway.status().activeOutages, []);

  t.same(recorder.violations, [], 'every payload validates against its schema');
});
