/**
 * Store-and-forward, MQTT side, on real parts: Mosquitto is stopped for 60 s while outages start and end at
 * about 100 events/s, then started again. A durable subscriber receives every event exactly once after
 * dropping QoS 1 duplicates by `seq`; what was emitted while the broker was down arrives marked historical;
 * each stream (historical, live) is in sequence order. InfluxDB, up all along, is not held back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { DomainEvent } from '../../gateway/engine/events.js';
import { createLogger } from '../../gateway/log.js';
import { Gateway } from '../../gateway/runtime/gateway.js';
import { startBurstRig } from '../helpers/burst-harness.js';
import { eventually } from '../helpers/demo-stack.js';
import { MqttRecorder } from '../helpers/mqtt-recorder.js';
import { startInfluxd, startMosquitto } from '../helpers/services.js';

const RATE = 100;
const OUTAGE_MS = 60_000;

type Received = DomainEvent & { historical?: true };

t.test('Mosquitto down 60 s at 100 events/s: every event exactly once (by seq), late ones historical, InfluxDB not held back', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-broker-outage-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const broker = await startMosquitto({ persistent: true });
  t.teardown(() => broker.stop());
  const influx = await startInfluxd();
  t.teardown(() => influx.stop());
  const rig = await startBurstRig(dir, {
    switches: 20,
    mqttUrl: broker.url,
    mqttClientId: `fw-broker-outage-${process.pid}`,
    influxPort: influx.port,
    database: 'burst',
    stateDir: join(dir, 'state'),
  });
  t.teardown(() => rig.stop());
  // A durable consumer: its session (subscription and queued messages) survives the broker restart.
  const recorder = await MqttRecorder.connect(broker.url, 'feederwatch/v1/burst/events', { persistentClientId: `fw-consumer-${process.pid}`, validate: true });
  t.teardown(() => recorder.close());

  // The gateway's log, kept to explain a failure.
  const logLines: string[] = [];
  const gateway = new Gateway(rig.site, { logger: createLogger({ level: 'debug', format: 'json', write: (line: string) => void logLines.push(line) }), version: 'test', drainOnStopMs: 20_000 });
  const emitted: DomainEvent[] = [];
  gateway.onEvents((events) => emitted.push(...events));
  await gateway.start();
  t.teardown(() => gateway.stop());
  await eventually('every FTU online', async () => (emitted.filter((e) => e.type === 'device.availability').length >= 20 ? true : undefined), 15_000);

  rig.startToggling(RATE);
  await new Promise((r) => setTimeout(r, 5000));
  await broker.halt();
  const haltedAt = Date.now();
  const seqAtHalt = emitted.length;
  await new Promise((r) => setTimeout(r, OUTAGE_MS));
  const statusWhileDown = gateway.sinkStatus();
  const seqAtRestart = emitted.length;
  await broker.restart();
  const restartedAt = Date.now();
  await new Promise((r) => setTimeout(r, 5000));
  await rig.stopToggling();
  await new Promise((r) => setTimeout(r, 1000));
  const lastSeq = emitted.at(-1)?.seq ?? 0;

  const unique = await eventually(
    'every seq at the consumer',
    async () => {
      const seqs = new Set(recorder.messages.map((m) => (JSON.parse(m.payload) as Received).seq));
      return seqs.size >= lastSeq ? seqs : undefined;
    },
    60_000,
  ).catch((err: Error) => {
    const seen = new Set(recorder.messages.map((m) => (JSON.parse(m.payload) as Received).seq));
    const missing = Array.from({ length: lastSeq }, (_, i) => i + 1).filter((s) => !seen.has(s));
    throw new Error(`${err.message}: ${missing.length} of ${lastSeq} missing (first ${missing.slice(0, 10).join(',')}); sinks ${JSON.stringify(gateway.sinkStatus())}; log tail:\n${logLines.slice(-40).join('\n')}`);
  });
  const deliveredAllAt = Date.now();
  const received = recorder.messages.map((m) => JSON.parse(m.payload) as Received);

  const downRate = ((seqAtRestart - seqAtHalt) * 1000) / OUTAGE_MS;
  t.ok(downRate >= 50, `events kept coming while the broker was down: ${downRate.toFixed(1)} events/s`);
  t.same(emitted.map((e) => e.seq), Array.from({ length: lastSeq }, (_, i) => i + 1), 'the gateway emitted seq 1..N');
  t.same([...unique].sort((a, b) => a - b), Array.from({ length: lastSeq }, (_, i) => i + 1), `every seq 1..${lastSeq} received, none missing`);
  const duplicates = received.length - unique.size;

  const inOrder = (list: Received[]): boolean => list.every((e, i) => i === 0 || e.seq > (list[i - 1] as Received).seq);
  const seen = new Set<number>();
  const firstCopies = received.filter((e) => !seen.has(e.seq) && seen.add(e.seq) !== undefined);
  t.ok(inOrder(firstCopies.filter((e) => e.historical === true)), 'historical events in sequence order');
  t.ok(inOrder(firstCopies.filter((e) => e.historical !== true)), 'live events in sequence order');
  // Emitted while the broker was down (a second of margin for what was in flight at the halt): delivered late.
  const duringOutage = emitted.slice(seqAtHalt + RATE, seqAtRestart).map((e) => e.seq);
  const lateOnes = new Set(received.filter((e) => e.historical === true).map((e) => e.seq));
  t.same(duringOutage.filter((s) => !lateOnes.has(s)), [], `all ${duringOutage.length} events of the outage arrived marked historical`);
  t.same(recorder.violations, [], 'every message matches the contract');

  const mqttDown = statusWhileDown.find((s) => s.name === 'mqtt');
  const influxDown = statusWhileDown.find((s) => s.name === 'influx');
  t.equal(mqttDown?.reachable, false, 'MQTT seen down');
  t.ok((mqttDown?.buffered ?? 0) >= seqAtRestart - seqAtHalt - RATE, `MQTT backlog kept in the outbox: ${mqttDown?.buffered} items`);
  t.equal(influxDown?.reachable, true, 'InfluxDB up');
  t.ok((influxDown?.buffered ?? Infinity) < 2000, `InfluxDB kept up meanwhile: ${influxDown?.buffered} items waiting`);
  const after = await eventually('MQTT backlog delivered', async () => {
    const s = gateway.sinkStatus().find((x) => x.name === 'mqtt');
    return s !== undefined && s.buffered === 0 ? s : undefined;
  }, 20_000);
  t.equal(after.dropped, 0, 'nothing dropped');
  t.ok(after.replayed >= duringOutage.length, `replayed counter ${after.replayed}`);
  t.comment(
    `measured: ${seqAtRestart - seqAtHalt} events in ${OUTAGE_MS / 1000} s down (${downRate.toFixed(1)}/s), outbox held ${mqttDown?.buffered} MQTT items; ` +
      `broker down ${restartedAt - haltedAt} ms; all ${lastSeq} seqs at the consumer ${deliveredAllAt - restartedAt} ms after the restart; ${duplicates} QoS 1 duplicates dropped by seq`,
  );
});
