/**
 * Voltage-time feeder automation end to end: the demo site's simulated F1 runs voltage-time FA (its config:
 * recloser F1-R1 with dead times 5 s and 15 s, loss-of-voltage opening 3 s, X 7 s, Y 5 s). A permanent fault on
 * F1-S3 must reach MQTT as the outage, its progress and a `selfHealing.completed` report, and InfluxDB as a
 * self-healing point. Expected lists are read off the drawing in config/sites/demo.yaml:
 *
 *   bus =[F1-CB]= F1-S1 =[F1-R1]= F1-S2 =[F1-LS1]= F1-S3 =[TIE-12 open]= F2-S2
 *                                   |
 *                                [F1-FU1]= F1-S4
 *
 * F1-R1 trips (F1-S2, F1-S3, F1-S4 dark); F1-LS1 opens on loss of voltage; F1-R1 recloses (F1-S2, F1-S4 back);
 * F1-LS1 closes onto the fault after X, F1-R1 trips again, F1-LS1 locks open (and TIE-12 locks, never closing,
 * since it would feed the fault); F1-R1 recloses for good. Only F1-S3 stays out.
 */
import t from 'tap';
import type { Outage, SelfHealingReport } from '../../gateway/engine/events.js';
import { control, eventually, influxQuery, startDemoStack } from '../helpers/demo-stack.js';
import { MqttRecorder } from '../helpers/mqtt-recorder.js';
import { startInfluxd, startMosquitto } from '../helpers/services.js';

const ROOT = 'feederwatch/v1/demo-xixi';
const DB = 'fw_fa';

t.test('permanent fault, voltage-time FA: outage, progress, selfHealing.completed with hand-listed scope', async (t) => {
  const [broker, influx] = await Promise.all([startMosquitto(), startInfluxd()]);
  t.teardown(async () => {
    await Promise.all([broker.stop(), influx.stop()]);
  });
  const recorder = await MqttRecorder.connect(broker.url, `${ROOT}/#`, { validate: true });
  t.teardown(() => recorder.close());
  // A shorter quiet time than the default 30 s keeps the test short; it must outlast the longest reclose dead
  // time (15 s here), or the sequence would be cut in two. The FA timers are the demo's own.
  const stack = await startDemoStack({
    mqttUrl: broker.url,
    influx: { host: influx.host, port: influx.port, database: DB },
    automation: true,
    thresholds: { selfHealingQuietMs: 20_000 },
  });
  t.teardown(() => stack.stop());
  await eventually('every device online', async () => (stack.gateway.status().devices.every((d) => d.state === 'online') ? true : undefined), 10_000);

  const faultAt = Date.now();
  await control(stack.controlUrl, 'POST', '/faults', { section: 'F1-S3', permanent: true });
  const started = await recorder.waitFor('outage started', (m) => m.topic === `${ROOT}/events` && m.payload.includes('"type":"outage.started"'), 5000, faultAt);
  const outage = (JSON.parse(started.payload) as { outage: Outage }).outage;
  t.same(outage.customers, ['C10201', 'C10202', 'C10203', 'C10301', 'C10302', 'C10303', 'C10401', 'C10402'], 'first trip: everything behind F1-R1');
  t.equal(outage.causeDevice, 'F1-R1');

  const progress = await recorder.waitFor('self-healing progress', (m) => m.topic === `${ROOT}/events` && m.payload.includes('"type":"selfHealing.progress"'), 30_000, faultAt);
  t.ok(progress, 'progress published while the sequence runs');

  const completedMsg = await recorder.waitFor('self-healing completed', (m) => m.topic === `${ROOT}/events` && m.payload.includes('"type":"selfHealing.completed"'), 75_000, faultAt);
  const report = (JSON.parse(completedMsg.payload) as { report: SelfHealingReport }).report;
  t.equal(report.feederId, 'F1');
  t.equal(report.kind, 'voltageTime');
  t.equal(report.outcome, 'restored', 'everything but the faulted section is back');
  t.equal(report.faultSection, 'F1-S3');
  t.same(report.isolatingDevices, ['F1-LS1']);
  t.same(report.restoredUpstream, { sections: ['F1-S2', 'F1-S4'], customers: ['C10201', 'C10202', 'C10203', 'C10401', 'C10402'] });
  t.same(report.restoredByTransfer, []);
  t.same(report.stillOut, { sections: ['F1-S3'], customers: ['C10301', 'C10302', 'C10303'] });
  t.ok(report.outageIds.includes(outage.id), 'the report names the outage');
  t.ok(report.steps.length >= 4, `${report.steps.length} steps reported`);
  t.ok((report.durationMs ?? 0) > 20_000, `sequence took ${report.durationMs} ms (two dead times and X)`);

  // The outage itself: still active for the faulted section only.
  const active = stack.gateway.status().activeOutages.find((o) => o.id === outage.id);
  t.same(active?.currentSections, ['F1-S3']);
  t.equal(active?.currentCustomerCount, 3);

  const rows = await eventually(
    'self-healing in InfluxDB',
    async () => {
      const r = await influxQuery(influx.url, DB, `SELECT "outcome", "faultSection", "kind" FROM "self_healing" WHERE "feeder" = 'F1'`);
      return r.length > 0 ? r : undefined;
    },
    5000,
  );
  t.match(rows[rows.length - 1], { outcome: 'restored', faultSection: 'F1-S3', kind: 'voltageTime' });

  t.same(recorder.violations, [], 'every payload validates against its schema');
});
