import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { startInfluxd, startMosquitto } from '../helpers/services.js';

const run = promisify(execFile);

t.test('the harness starts a real Mosquitto that delivers a retained message', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const pub = await mqtt.connectAsync(broker.url);
  await pub.publishAsync('harness/check', 'hello', { qos: 1, retain: true });
  await pub.endAsync();
  const sub = await mqtt.connectAsync(broker.url);
  const got = new Promise<string>((resolve) => sub.on('message', (_topic, payload) => resolve(payload.toString())));
  await sub.subscribeAsync('harness/check', { qos: 1 });
  t.equal(await got, 'hello');
  await sub.endAsync();
});

t.test('the harness starts a real InfluxDB 1.x answering InfluxQL through the influx CLI', async (t) => {
  const influx = await startInfluxd();
  t.teardown(() => influx.stop());
  const { stdout } = await run('influx', ['-host', influx.host, '-port', String(influx.port), '-execute', 'CREATE DATABASE h; SHOW DATABASES', '-format', 'json']);
  t.match(stdout, /"h"/);
});
