/**
 * The gateway on a Modbus RTU line: the demo site's 17 meters moved onto one RS-485 bus served by the simulator
 * on a socat pseudo-terminal pair, the FTUs still on Modbus TCP. A fault must reach MQTT with exactly the
 * customers behind the tripped recloser, and the meters on the line report through the bus scheduler.
 */
import t from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../../gateway/clock.js';
import { parseSiteConfig } from '../../gateway/config/load-site.js';
import type { SiteConfig } from '../../gateway/config/site-config.js';
import type { Outage } from '../../gateway/engine/events.js';
import { silentLogger } from '../../gateway/log.js';
import { packagePath } from '../../gateway/paths.js';
import { Gateway } from '../../gateway/runtime/gateway.js';
import { Simulator } from '../../simulators/simulator.js';
import { control, eventually, withBoundPorts } from '../helpers/demo-stack.js';
import { MqttRecorder } from '../helpers/mqtt-recorder.js';
import { startMosquitto } from '../helpers/services.js';

const EXPECTED_CUSTOMERS = ['C10201', 'C10202', 'C10203', 'C10301', 'C10302', 'C10303', 'C10401', 'C10402'];

t.test('meters on an RTU bus, FTUs on TCP: fault -> outage with the hand-listed customers', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fw-rtu-e2e-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const demo = await readFile(packagePath('config/sites/demo.yaml'), 'utf8');
  const text =
    demo.replaceAll('protocol: modbus-tcp, host: 127.0.0.1, port: 15021,', 'protocol: modbus-rtu, bus: meters,') +
    `\nbuses:\n  - { id: meters, type: serial, path: ${join(dir, 'ttyMeters')}, baudRate: 38400, parity: even, dataBits: 8, stopBits: 1 }\n`;
  const loaded = parseSiteConfig(text, { env: {}, sourceName: 'rtu-e2e.yaml' });
  t.equal(loaded.devices.filter((d) => d.protocol === 'modbus-rtu').length, 17, '17 meters on the RTU bus');

  const simulator = new Simulator(loaded, { clock: systemClock, controlPort: 0, portOverride: () => 0 });
  const endpoints = await simulator.start();
  t.teardown(() => simulator.stop());
  t.same(endpoints.rtuBuses.map((b) => b.busId), ['meters']);
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const site: SiteConfig = {
    ...loaded,
    devices: withBoundPorts(loaded.devices, endpoints),
    mqtt: { url: broker.url, protocolVersion: 4, clientId: 'fw-rtu-e2e' },
  };
  const recorder = await MqttRecorder.connect(broker.url, 'feederwatch/v1/demo-xixi/#');
  t.teardown(() => recorder.close());
  const gateway = new Gateway(site, { logger: silentLogger, version: 'test' });
  await gateway.start();
  t.teardown(() => gateway.stop());
  t.ok(
    gateway.drivers.some((d) => d.id === 'meters' && d.deviceIds.length === 17),
    'one bus driver serves the 17 meters',
  );

  await eventually('every device online', async () => (gateway.status().devices.every((d) => d.state === 'online') ? true : undefined), 15_000);
  const faultAt = Date.now();
  await control(endpoints.controlUrl, 'POST', '/faults', { section: 'F1-S3' });
  const msg = await recorder.waitFor('active outage', (m) => m.topic.includes('/outages/') && m.payload.includes('"state":"active"'), 5000, faultAt);
  const outage = JSON.parse(msg.payload) as Outage;
  t.same(outage.customers, EXPECTED_CUSTOMERS);
  t.equal(outage.causeDevice, 'F1-R1');
  t.equal(gateway.status().activeOutages.filter((o) => o.cause === 'meterVoltageLoss').length, 0, 'meters on the bus add no outage of their own');
});
