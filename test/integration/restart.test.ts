/**
 * kill -9 in the middle of an outage, on real parts: the simulator serves the demo site, the gateway runs as a
 * child process through the CLI (`feederwatch run`) with a state folder, a real Mosquitto carries its events.
 * The gateway is killed hard while an outage is active and started again: the outage is not announced again,
 * its restoration closes the same outage id with the duration from its original start, and the events stream
 * has every sequence number exactly once.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseDocument } from 'yaml';
import { systemClock } from '../../gateway/clock.js';
import { loadSiteConfig } from '../../gateway/config/load-site.js';
import type { DomainEvent, Outage } from '../../gateway/engine/events.js';
import type { SiteConfig } from '../../gateway/config/site-config.js';
import { silentLogger } from '../../gateway/log.js';
import { packagePath } from '../../gateway/paths.js';
import { Gateway } from '../../gateway/runtime/gateway.js';
import { StateStore, eventItem } from '../../gateway/runtime/state-store.js';
import { Simulator } from '../../simulators/simulator.js';
import { spawnCli } from '../helpers/cli.js';
import { control, eventually } from '../helpers/demo-stack.js';
import { MqttRecorder, type RecordedMessage } from '../helpers/mqtt-recorder.js';
import { startMosquitto } from '../helpers/services.js';

const ROOT = 'feederwatch/v1/demo-xixi';
const DEVICES = 23;

type Gw = ReturnType<typeof spawnCli>;

t.test('kill -9 during an outage: no repeated outage.started, same outage closes with its full duration, no seq gap or duplicate', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-restart-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());

  const demoFile = packagePath('config/sites/demo.yaml');
  const demo = await loadSiteConfig(demoFile, {});
  // Without the demo's simulated feeder automation: the recloser trips and locks out, so the outage stays as
  // it is while the gateway is down (self-healing across a restart is the recognizer's own test).
  const { automation: _automation, ...simulatorConfig } = demo.simulator;
  const simulator = new Simulator({ ...demo, simulator: simulatorConfig }, { clock: systemClock, controlPort: 0, portOverride: () => 0 });
  const endpoints = await simulator.start();
  t.teardown(() => simulator.stop());
  const bound = new Map(endpoints.modbusEndpoints.map((e) => [`${e.host}:${e.port}`, e.boundPort]));

  // The demo site file with the simulator's ports, the test broker and a state folder.
  const doc = parseDocument(readFileSync(demoFile, 'utf8'));
  const devices = doc.toJS().devices as Array<{ host: string; port: number }>;
  devices.forEach((d, i) => doc.setIn(['devices', i, 'port'], bound.get(`${d.host}:${d.port}`) ?? d.port));
  doc.deleteIn(['simulator', 'automation']);
  doc.setIn(['mqtt', 'url'], broker.url);
  doc.setIn(['mqtt', 'clientId'], `feederwatch-restart-${process.pid}`);
  doc.setIn(['persistence', 'stateDir'], join(dir, 'state'));
  doc.setIn(['http', 'port'], 0);
  const siteFile = join(dir, 'site.yaml');
  writeFileSync(siteFile, doc.toString());

  const recorder = await MqttRecorder.connect(broker.url, `${ROOT}/events`);
  t.teardown(() => recorder.close());
  const events = (): DomainEvent[] => recorder.messages.map((m) => JSON.parse(m.payload) as DomainEvent);
  const isType = (type: string) => (m: RecordedMessage) => m.payload.includes(`"type":"${type}"`);

  const gateways: Gw[] = [];
  const startGateway = (): Gw => {
    const gw = spawnCli(['run', '--config', siteFile, '--log-format', 'json']);
    gateways.push(gw);
    return gw;
  };
  t.teardown(async () => {
    for (const gw of gateways) {
      if (gw.child.exitCode === null && gw.child.signalCode === null) {
        gw.child.kill('SIGKILL');
        await gw.exited;
      }
    }
  });
  const logsOf = (gw: Gw): string => gw.output().stdout + gw.output().stderr;

  // First run: every device comes online, then a fault on F1-S3 trips F1-R1.
  const first = startGateway();
  await recorder.waitFor('all devices online (run 1)', () => events().filter((e) => e.type === 'device.availability').length >= DEVICES, 15_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${logsOf(first)}`);
  });
  const faultAt = Date.now();
  await control(endpoints.controlUrl, 'POST', '/faults', { section: 'F1-S3' });
  const startedMsg = await recorder.waitFor('outage.started', isType('outage.started'), 5000, faultAt);
  const started = (JSON.parse(startedMsg.payload) as { outage: Outage }).outage;
  t.equal(started.causeDevice, 'F1-R1');
  await recorder.waitFor('fault located', (m) => isType('outage.updated')(m) && m.payload.includes('"faultSection":"F1-S3"'), 5000, faultAt);
  // Let the engine settle (every device polled with the fault in place), then kill it hard.
  await new Promise((r) => setTimeout(r, 1500));
  const seqBeforeKill = Math.max(...events().map((e) => e.seq));
  const killedAt = Date.now();
  first.child.kill('SIGKILL');
  const firstExit = await first.exited;
  t.equal(first.child.signalCode, 'SIGKILL', 'first gateway killed with SIGKILL');
  t.not(firstExit.code, 0);

  // Down for a while; then the second run restores the state.
  await new Promise((r) => setTimeout(r, 2000));
  const restartAt = Date.now();
  const second = startGateway();
  const firstAfter = await recorder.waitFor('an event after the restart', (m) => JSON.parse(m.payload).seq > seqBeforeKill, 15_000, restartAt).catch((err: Error) => {
    throw new Error(`${err.message}\n${logsOf(second)}`);
  });
  const firstEventAfterRestartMs = firstAfter.at - restartAt;
  t.equal((JSON.parse(firstAfter.payload) as DomainEvent).seq, seqBeforeKill + 1, 'the sequence continues where it stopped');
  await recorder.waitFor('all devices online (run 2)', () => events().filter((e) => e.type === 'device.availability' && e.seq > seqBeforeKill).length >= DEVICES, 15_000);
  t.match(logsOf(second), /state restored/, 'the second run says it restored the state');

  // The outage is still retained as active (not cleared as stale, not published again).
  const late = await MqttRecorder.connect(broker.url, `${ROOT}/outages/+`);
  const retained = await late.waitFor('retained outage', (m) => m.payload !== '', 3000);
  await late.close();
  t.equal(retained.topic, `${ROOT}/outages/${started.id}`);
  t.equal(retained.retain, true);
  t.equal((JSON.parse(retained.payload) as Outage).state, 'active');

  // Restore: the same outage closes, with the duration from its original start.
  await control(endpoints.controlUrl, 'DELETE', '/faults/F1-S3');
  const closeAt = Date.now();
  await control(endpoints.controlUrl, 'POST', '/switches/F1-R1', { position: 'closed' });
  const restoredMsg = await recorder.waitFor('outage.restored', isType('outage.restored'), 5000, closeAt);
  const restored = (JSON.parse(restoredMsg.payload) as { outage: Outage }).outage;
  t.equal(restored.id, started.id, 'the restoration closes the outage started before the kill');
  t.equal(restored.startedAt, started.startedAt, 'original start time');
  const durationMs = restored.durationMs ?? 0;
  t.equal(durationMs, Date.parse(restored.restoredAt ?? '') - Date.parse(started.startedAt), 'duration = restoredAt - original startedAt');
  t.ok(durationMs > restartAt - killedAt, `duration ${durationMs} ms covers the ${restartAt - killedAt} ms the gateway was down`);
  t.ok(durationMs < Date.now() - faultAt + 2000, 'and no more than the fault lasted');

  // A clean stop, then the stream as a whole.
  await new Promise((r) => setTimeout(r, 500));
  second.child.kill('SIGTERM');
  t.equal((await second.exited).code, 0, 'second gateway stops cleanly');
  const all = events();
  const seqs = all.map((e) => e.seq);
  const sorted = [...seqs].sort((a, b) => a - b);
  t.same(seqs, sorted, 'events arrive in sequence order');
  t.equal(new Set(seqs).size, seqs.length, 'no duplicate seq');
  t.equal(sorted[0], 1, 'first seq is 1');
  t.equal((sorted.at(-1) ?? 0) - (sorted[0] ?? 0) + 1, seqs.length, `no gap: ${seqs.length} events, seq 1..${sorted.at(-1)}`);
  t.equal(all.filter((e) => e.type === 'outage.started').length, 1, 'exactly one outage.started');
  t.equal(all.filter((e) => e.type === 'outage.restored' && e.outage.id === started.id).length, 1, 'exactly one outage.restored for it');
  const outageEventsAfterRestart = all.filter((e) => e.seq > seqBeforeKill && e.type.startsWith('outage.') && e.seq < (JSON.parse(restoredMsg.payload) as DomainEvent).seq);
  t.same(outageEventsAfterRestart.map((e) => e.type), [], 'the restart itself produced no outage event');
  t.comment(`measured: gateway down ${restartAt - killedAt} ms; first event ${firstEventAfterRestartMs} ms after the restart; outage duration ${durationMs} ms; ${seqs.length} events`);
});

t.test('events stored but never confirmed by the broker are published again at start, marked historical, then acknowledged', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-replay-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const stateDir = join(dir, 'state');
  // What a gateway killed right after storing seq 2 and 3 (seq 1 confirmed by the broker) leaves behind.
  const seeded = StateStore.open(stateDir, { logger: silentLogger, outbox: { sinks: ['mqtt'] } });
  const event = (seq: number): DomainEvent =>
    ({ id: `demo-xixi:${seq}`, seq, siteId: 'demo-xixi', ts: new Date().toISOString(), type: 'device.availability', deviceId: 'ftu-f1-cb', state: 'online', previousState: 'unknown', lastGoodAt: null, consecutiveErrors: 0, error: null }) as DomainEvent;
  seeded.save(null, 4, [event(1), event(2), event(3)].map(eventItem));
  seeded.outbox.ack('mqtt', seeded.outbox.newestId - 2);
  seeded.close();

  const demo = await loadSiteConfig(packagePath('config/sites/demo.yaml'), {});
  const site: SiteConfig = { ...demo, devices: [], mqtt: { url: broker.url, protocolVersion: 4, clientId: `feederwatch-replay-${process.pid}` }, persistence: { stateDir } };
  const recorder = await MqttRecorder.connect(broker.url, `${ROOT}/events`);
  t.teardown(() => recorder.close());
  const gateway = new Gateway(site, { logger: silentLogger, version: 'test' });
  await gateway.start();
  t.equal(gateway.status().stateFile, join(stateDir, 'feederwatch-state.db'));
  await recorder.waitFor('seq 3 again', (m) => JSON.parse(m.payload).seq === 3, 5000);
  const received = recorder.messages.map((m) => JSON.parse(m.payload) as DomainEvent & { historical?: boolean });
  t.same(received.map((e) => e.seq), [2, 3], 'only the unconfirmed events, in order');
  t.same(received.map((e) => e.historical), [true, true], 'marked historical');
  await eventually('the outbox empties', async () => (gateway.sinkStatus().find((s) => s.name === 'mqtt')?.buffered === 0 ? true : undefined), 5000);
  // Replayed: the two events, and the two feeder states (F1, F2) appended at start before the broker connected
  // (acknowledged without publishing: the current state is republished on connect).
  t.same(gateway.sinkStatus(), [{ name: 'mqtt', reachable: true, buffered: 0, replayed: 4, dropped: 0 }], 'four replayed, none dropped');
  await gateway.stop();
  const store = StateStore.open(stateDir, { logger: silentLogger, outbox: { sinks: ['mqtt'] } });
  const stored = store.load();
  t.same(store.outbox.next('mqtt', 100), [], 'nothing left to send again');
  store.close();
  t.equal(stored?.nextSeq, 4, 'the sequence continues at 4');
});
