/**
 * Store-and-forward, InfluxDB side, on real parts: influxd is stopped for 60 s while outages start and end at
 * about 100 events/s and 20 FTUs are polled every 50 ms, then started again (same data folder). Every outage
 * event, availability event and telemetry point of the whole run is in the database afterwards; MQTT, up all
 * along, is not held back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { DomainEvent } from '../../gateway/engine/events.js';
import { silentLogger } from '../../gateway/log.js';
import { Gateway } from '../../gateway/runtime/gateway.js';
import { startBurstRig } from '../helpers/burst-harness.js';
import { eventually, influxQuery } from '../helpers/demo-stack.js';
import { startInfluxd, startMosquitto } from '../helpers/services.js';

const RATE = 100;
const OUTAGE_MS = 60_000;

t.test('InfluxDB down 60 s at 100 events/s: every event and every telemetry point arrives, MQTT not held back', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-influx-outage-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const influx = await startInfluxd();
  t.teardown(() => influx.stop());
  const rig = await startBurstRig(dir, {
    switches: 20,
    mqttUrl: broker.url,
    mqttClientId: `fw-influx-outage-${process.pid}`,
    influxPort: influx.port,
    database: 'burst',
    stateDir: join(dir, 'state'),
  });
  t.teardown(() => rig.stop());

  const gateway = new Gateway(rig.site, { logger: silentLogger, version: 'test', drainOnStopMs: 30_000 });
  const emitted: DomainEvent[] = [];
  gateway.onEvents((events) => emitted.push(...events));
  // The gateway writes one point per poll with at least one good value, at the newest source time of its
  // values (docs/influx.md); two polls of a device stamped in the same millisecond are one point in InfluxDB.
  const telemetryPoints = new Set<string>();
  gateway.onReadings((id, readings) => {
    const good = readings.filter((r) => r.quality !== 'bad' && r.value !== null && Number.isFinite(r.value));
    if (good.length > 0) telemetryPoints.add(`${id}@${Math.max(...good.map((r) => r.sourceTs))}`);
  });
  await gateway.start();
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await gateway.stop();
  });
  await eventually('every FTU online', async () => (emitted.filter((e) => e.type === 'device.availability').length >= 20 ? true : undefined), 15_000);

  rig.startToggling(RATE);
  await new Promise((r) => setTimeout(r, 5000));
  await influx.halt();
  const haltedAt = Date.now();
  const atHalt = emitted.length;
  await new Promise((r) => setTimeout(r, OUTAGE_MS));
  const statusWhileDown = gateway.sinkStatus();
  const atRestart = emitted.length;
  await influx.restart();
  const restartedAt = Date.now();
  // The sender probes with backoff (1 s doubling to 30 s): found again within one backoff step.
  await eventually('InfluxDB found again', async () => (gateway.sinkStatus().find((s) => s.name === 'influx')?.reachable === true ? true : undefined), 40_000);
  const foundAt = Date.now();
  await new Promise((r) => setTimeout(r, 5000));
  await rig.stopToggling();
  await new Promise((r) => setTimeout(r, 1000));
  // A clean stop: the drivers stop, the sinks take what is left (bounded wait).
  await gateway.stop();
  stopped = true;

  const downRate = ((atRestart - atHalt) * 1000) / OUTAGE_MS;
  t.ok(downRate >= 50, `events kept coming while InfluxDB was down: ${downRate.toFixed(1)} events/s`);
  const influxDown = statusWhileDown.find((s) => s.name === 'influx');
  const mqttDown = statusWhileDown.find((s) => s.name === 'mqtt');
  t.equal(influxDown?.reachable, false, 'InfluxDB seen down');
  t.ok((influxDown?.buffered ?? 0) > atRestart - atHalt, `InfluxDB backlog kept in the outbox: ${influxDown?.buffered} items`);
  t.equal(mqttDown?.reachable, true, 'MQTT up');
  t.ok((mqttDown?.buffered ?? Infinity) < 2000, `MQTT kept up meanwhile: ${mqttDown?.buffered} items waiting`);

  const outageSeqs = emitted.filter((e) => e.type.startsWith('outage.')).map((e) => e.seq);
  const availabilitySeqs = emitted.filter((e) => e.type === 'device.availability').map((e) => e.seq);
  const seqsIn = async (measurement: string): Promise<number[]> =>
    (await influxQuery(influx.url, 'burst', `SELECT "seq" FROM "${measurement}"`)).map((r) => r.seq as number).sort((a, b) => a - b);
  const stored = await seqsIn('outage');
  t.equal(stored.length, outageSeqs.length, `${outageSeqs.length} outage events, as many points`);
  t.same(stored, outageSeqs, 'every outage event written, each once');
  t.same(await seqsIn('device_availability'), availabilitySeqs, 'every availability event written');
  const points = await influxQuery(influx.url, 'burst', 'SELECT count("position") FROM "feederwatch_telemetry"."switch"');
  t.equal(points[0]?.count, telemetryPoints.size, `every telemetry point written: ${String(points[0]?.count)} of ${telemetryPoints.size}`);
  const late = (await influxQuery(influx.url, 'burst', `SELECT count("seq") FROM "outage" WHERE time >= ${haltedAt + 1000}ms AND time < ${restartedAt - 1000}ms`))[0]?.count;
  t.ok((late as number) > 0.9 * (atRestart - atHalt - 2 * RATE), `the outage's own events sit at their own times: ${late} points inside the outage window`);
  t.comment(
    `measured: ${atRestart - atHalt} events in ${OUTAGE_MS / 1000} s down (${downRate.toFixed(1)}/s); outbox held ${influxDown?.buffered} InfluxDB items; ` +
      `found again ${foundAt - restartedAt} ms after its restart; ${stored.length} outage points, ${availabilitySeqs.length} availability points, ${telemetryPoints.size} telemetry points, all written`,
  );
});
