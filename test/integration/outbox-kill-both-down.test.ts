/**
 * Store-and-forward across a hard kill, on real parts: the gateway runs as a child process (`feederwatch run`)
 * with a state folder; Mosquitto and InfluxDB are both stopped while outages start and end at about 100
 * events/s; the gateway is killed with SIGKILL while both are down; then the services and the gateway are
 * started again. Nothing is lost: the durable consumer ends with every seq 1..N (N = the stored next seq - 1),
 * and InfluxDB holds exactly the outage events the consumer received.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { DomainEvent } from '../../gateway/engine/events.js';
import { silentLogger } from '../../gateway/log.js';
import { StateStore } from '../../gateway/runtime/state-store.js';
import { startBurstRig } from '../helpers/burst-harness.js';
import { spawnCli } from '../helpers/cli.js';
import { eventually, influxQuery } from '../helpers/demo-stack.js';
import { MqttRecorder } from '../helpers/mqtt-recorder.js';
import { startInfluxd, startMosquitto } from '../helpers/services.js';

const RATE = 100;
const DOWN_MS = 15_000;

type Received = DomainEvent & { historical?: true };

t.test('kill -9 while MQTT and InfluxDB are both down: after restarting everything, nothing is lost', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-kill-both-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const broker = await startMosquitto({ persistent: true });
  t.teardown(() => broker.stop());
  const influx = await startInfluxd();
  t.teardown(() => influx.stop());
  const stateDir = join(dir, 'state');
  const rig = await startBurstRig(dir, {
    switches: 20,
    mqttUrl: broker.url,
    mqttClientId: `fw-kill-both-${process.pid}`,
    influxPort: influx.port,
    database: 'burst',
    stateDir,
  });
  t.teardown(() => rig.stop());
  const recorder = await MqttRecorder.connect(broker.url, 'feederwatch/v1/burst/events', { persistentClientId: `fw-kill-consumer-${process.pid}` });
  t.teardown(() => recorder.close());
  const received = (): Received[] => recorder.messages.map((m) => JSON.parse(m.payload) as Received);

  const children: Array<ReturnType<typeof spawnCli>> = [];
  const startGateway = (): ReturnType<typeof spawnCli> => {
    const gw = spawnCli(['run', '--config', rig.siteFile, '--log-format', 'json']);
    children.push(gw);
    return gw;
  };
  t.teardown(async () => {
    for (const gw of children) {
      if (gw.child.exitCode === null && gw.child.signalCode === null) {
        gw.child.kill('SIGKILL');
        await gw.exited;
      }
    }
  });

  const first = startGateway();
  await eventually('every FTU online (run 1)', async () => (received().filter((e) => e.type === 'device.availability').length >= 20 ? true : undefined), 20_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${first.output().stdout.slice(-3000)}${first.output().stderr.slice(-3000)}`);
  });
  rig.startToggling(RATE);
  await new Promise((r) => setTimeout(r, 3000));
  const seqBeforeOutage = Math.max(...received().map((e) => e.seq));
  await Promise.all([broker.halt(), influx.halt()]);
  const togglesAtHalt = rig.toggles();
  await new Promise((r) => setTimeout(r, DOWN_MS));
  first.child.kill('SIGKILL');
  await first.exited;
  t.equal(first.child.signalCode, 'SIGKILL', 'the gateway was killed hard while both sinks were down');
  const togglesWhileDown = rig.toggles() - togglesAtHalt;

  await Promise.all([broker.restart(), influx.restart()]);
  const second = startGateway();
  await new Promise((r) => setTimeout(r, 5000));
  await rig.stopToggling();
  // Toggling stopped: let the second run deliver its backlog to both sinks (the consumer has no hole, and
  // InfluxDB holds as many outage events as the consumer), then stop it cleanly.
  const outageSeqsAtConsumer = (): number[] => [...new Set(received().filter((e) => e.type.startsWith('outage.')).map((e) => e.seq))].sort((a, b) => a - b);
  const storedOutageSeqs = async (): Promise<number[]> => (await influxQuery(influx.url, 'burst', 'SELECT "seq" FROM "outage"')).map((r) => r.seq as number).sort((a, b) => a - b);
  await eventually(
    'both sinks caught up',
    async () => {
      const seqs = new Set(received().map((e) => e.seq));
      const max = Math.max(...seqs);
      if (seqs.size !== max) return undefined;
      return (await storedOutageSeqs()).length >= outageSeqsAtConsumer().length ? true : undefined;
    },
    60_000,
  ).catch(() => undefined);
  second.child.kill('SIGTERM');
  const exit = await second.exited;
  t.equal(exit.code, 0, 'second run stopped cleanly');

  const store = StateStore.open(stateDir, { logger: silentLogger, outbox: { sinks: ['mqtt', 'influx'] } });
  const lastSeq = (store.load()?.nextSeq ?? 1) - 1;
  const left = store.outbox.stats().sinks;
  store.close();
  t.ok(lastSeq > seqBeforeOutage + 0.5 * togglesWhileDown, `events were produced while both sinks were down: seq ${seqBeforeOutage} -> ${lastSeq}, ${togglesWhileDown} toggles`);

  const unique = new Set(received().map((e) => e.seq));
  const missing = Array.from({ length: lastSeq }, (_, i) => i + 1).filter((s) => !unique.has(s));
  t.same(missing, [], `every seq 1..${lastSeq} received over MQTT`);
  t.equal(Math.max(...unique), lastSeq, 'nothing beyond the stored sequence');
  const outageSeqs = outageSeqsAtConsumer();
  const stored = await storedOutageSeqs();
  t.same(stored, outageSeqs, `InfluxDB holds the same ${outageSeqs.length} outage events`);
  t.same(
    Object.fromEntries(Object.entries(left).map(([name, s]) => [name, { dropped: s.dropped }])),
    { influx: { dropped: { bytes: 0, age: 0 } }, mqtt: { dropped: { bytes: 0, age: 0 } } },
    'no bound dropped anything',
  );
  t.comment(
    `measured: ${togglesWhileDown} toggles in ${DOWN_MS / 1000} s with both sinks down, then kill -9; events 1..${lastSeq} all at the consumer ` +
      `(${received().length - unique.size} duplicates dropped by seq), ${stored.length} outage points in InfluxDB; left in the outbox after the clean stop: ` +
      Object.entries(left)
        .map(([n, s]) => `${n} ${s.buffered}`)
        .join(', '),
  );
});
