/**
 * The gateway with an OPC UA FTU: the demo site's F2-SW1 reports over OPC UA (the simulator's FTU server),
 * everything else over Modbus TCP. Opening F2-SW1 in the simulated grid must reach MQTT as an outage of
 * exactly the customers of F2-S2, through the driver factory, the OPC UA driver and the point map.
 */
import t from 'tap';
import { exitWhenDone } from '../helpers/exit-when-done.js';
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
import { freePort, startMosquitto } from '../helpers/services.js';

exitWhenDone(t);

t.test('an OPC UA FTU in the site: switch opened -> outage with the hand-listed customers', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fw-opcua-e2e-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const opcuaPort = await freePort();
  const demo = await readFile(packagePath('config/sites/demo.yaml'), 'utf8');
  const ftuLine = /^ {2}- \{ id: ftu-f2-sw1,.*$/m;
  t.match(demo, ftuLine, 'the demo has the Modbus FTU line to replace');
  const opcuaDevice = `  - id: ftu-f2-sw1
    protocol: opcua
    endpointUrl: opc.tcp://127.0.0.1:${opcuaPort}
    binds: { switch: F2-SW1 }
    points:
      - { name: position, nodeId: "ns=1;s=ftu-f2-sw1.Position", observe: switch.position, encoding: doublePoint, samplingIntervalMs: 100 }
      - { name: faultFlag, nodeId: "ns=1;s=ftu-f2-sw1.FaultFlag", observe: switch.faultFlag, samplingIntervalMs: 100 }
      - { name: ia, browsePath: /1:ftu-f2-sw1/1:Ia, unit: A }`;
  const text = demo.replace(ftuLine, opcuaDevice) + `\nopcua: { pkiDir: ${join(dir, 'pki')} }\n`;
  const loaded = parseSiteConfig(text, { env: {}, sourceName: 'opcua-e2e.yaml' });
  const sim: SiteConfig = { ...loaded, simulator: { ...loaded.simulator, automation: undefined } };
  const simulator = new Simulator(sim, { clock: systemClock, controlPort: 0, portOverride: (_h, port) => (port === opcuaPort ? port : 0) });
  const endpoints = await simulator.start();
  t.teardown(() => simulator.stop());
  t.same(
    endpoints.opcuaServers.map((o) => [o.endpointUrl, [...o.deviceIds]]),
    [[`opc.tcp://127.0.0.1:${opcuaPort}`, ['ftu-f2-sw1']]],
    'one OPC UA FTU server',
  );
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const site: SiteConfig = {
    ...loaded,
    devices: withBoundPorts(loaded.devices, endpoints),
    mqtt: { url: broker.url, protocolVersion: 4, clientId: 'fw-opcua-e2e' },
  };
  const recorder = await MqttRecorder.connect(broker.url, 'feederwatch/v1/demo-xixi/#');
  t.teardown(() => recorder.close());
  const gateway = new Gateway(site, { logger: silentLogger, version: 'test' });
  await gateway.start();
  t.teardown(() => gateway.stop());
  t.ok(gateway.drivers.some((d) => d.deviceIds.includes('ftu-f2-sw1') && d.deviceIds.length === 1), 'an OPC UA driver for the FTU');

  await eventually('every device online', async () => (gateway.status().devices.every((d) => d.state === 'online') ? true : undefined), 20_000);
  const openAt = Date.now();
  await control(endpoints.controlUrl, 'POST', '/switches/F2-SW1', { position: 'open' });
  const msg = await recorder.waitFor('active outage', (m) => m.topic.includes('/outages/') && m.payload.includes('"state":"active"'), 5000, openAt);
  const outage = JSON.parse(msg.payload) as Outage;
  t.same(outage.customers, ['C20201', 'C20202']);
  t.same(outage.sections, ['F2-S2']);
  t.equal(outage.causeDevice, 'F2-SW1');
  t.equal(outage.cause, 'switchOpened');
  t.ok(msg.at - openAt < 3000, `seen over OPC UA ${msg.at - openAt} ms after the switch opened`);
});
