/**
 * The OPC UA driver against the simulator's OPC UA FTU server over real sockets on 127.0.0.1: values flow
 * from the feeder model to readings, browse paths resolve, an unknown node is a bad reading that leaves
 * the other points alone, and a server restart mid-test (stop, start again on the same port) is survived
 * without restarting the driver. One server for the whole file (node-opcua is slow to start).
 */
import t from 'tap';
import { exitWhenDone } from '../helpers/exit-when-done.js';
import { systemClock } from '../../gateway/clock.js';
import { OpcUaDriver } from '../../drivers/opcua/opcua-driver.js';
import { routeNodeOpcuaLogs } from '../../drivers/opcua/node-opcua-logs.js';
import type { Reading } from '../../drivers/reading.js';
import { FeederModel } from '../../simulators/feeder-model.js';
import { OpcUaFtuServer } from '../../simulators/opcua-server.js';
import { is, isBad, MemoryLogger, opcuaDevice, opcuaSite, point, Recorder, tempPki } from '../helpers/opcua-fixture.js';

exitWhenDone(t);

const nodeOpcuaLog = new MemoryLogger();
routeNodeOpcuaLogs(nodeOpcuaLog);

const baselineTimers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

// The server serves three FTUs; the port is chosen free at start and kept across restarts.
const servedDevices = [opcuaDevice('ftu-a-cb', 'A-CB', 0), opcuaDevice('ftu-a-r1', 'A-R1', 0), opcuaDevice('ftu-a-sw1', 'A-SW1', 0)];
const site = opcuaSite(servedDevices);
const model = new FeederModel(site, { clock: systemClock });
const server = new OpcUaFtuServer({ model, devices: servedDevices, clock: systemClock, port: 0, refreshIntervalMs: 0 });

t.before(async () => {
  await server.start();
});
t.teardown(async () => {
  await server.dispose();
});

t.test('values flow from the feeder model to readings; browse paths; unknown node', async (t) => {
  const port = server.boundPort;
  const pki = await tempPki();
  t.teardown(pki.cleanup);
  const devices = [
    opcuaDevice('ftu-a-cb', 'A-CB', port),
    opcuaDevice('ftu-a-r1', 'A-R1', port, {
      points: [
        point('position', { nodeId: 'ns=1;s=ftu-a-r1.Position', observe: 'switch.position', encoding: 'doublePoint' }),
        point('bogus', { nodeId: 'ns=1;s=ftu-a-r1.NoSuchVariable' }),
        point('faultFlag', { nodeId: 'ns=1;s=ftu-a-r1.FaultFlag' }),
        // By namespace URI instead of index.
        point('uab', { nodeId: `nsu=${server.namespaceUri};s=ftu-a-r1.Uab` }),
        point('elsewhere', { nodeId: 'nsu=urn:no-such-namespace;s=ftu-a-r1.Uab' }),
      ],
    }),
    opcuaDevice('ftu-a-sw1', 'A-SW1', port, {
      points: [
        point('position', { browsePath: '/1:ftu-a-sw1/1:Position' }),
        point('uab', { browsePath: '/1:ftu-a-sw1/1:Uab', scale: 0.001 }),
        point('lost', { browsePath: '/1:ftu-a-sw1/1:NoSuchChild' }),
      ],
    }),
  ];
  const recorder = new Recorder();
  const logger = new MemoryLogger();
  const driver = new OpcUaDriver(devices, pki.client, { clock: systemClock, logger });
  t.equal(driver.id, `opc.tcp://127.0.0.1:${port}`, 'one driver per endpoint');
  t.same(driver.deviceIds, ['ftu-a-cb', 'ftu-a-r1', 'ftu-a-sw1']);
  await driver.start(recorder.sink);
  t.teardown(() => driver.stop());

  await recorder.until(
    () =>
      [
        ['ftu-a-cb', 'position'],
        ['ftu-a-cb', 'uab'],
        ['ftu-a-r1', 'position'],
        ['ftu-a-sw1', 'position'],
        ['ftu-a-sw1', 'uab'],
      ].every(([d, p]) => recorder.latest(d as string, p as string)?.quality === 'good'),
    15_000,
    'first values of every point',
  );

  t.test('initial values', async (t) => {
    t.equal(recorder.latest('ftu-a-cb', 'position')?.value, 2, 'breaker closed: double point 2');
    t.equal(recorder.latest('ftu-a-cb', 'faultFlag')?.value, 0, 'no fault: Boolean false -> 0');
    t.equal(recorder.latest('ftu-a-cb', 'uab')?.value, 10, 'Uab 10 kV scaled by 0.001');
    const ia = recorder.latest('ftu-a-cb', 'ia') as Reading;
    t.ok(typeof ia.value === 'number' && ia.value > 0, `Ia carries load (${String(ia.value)} A)`);
    t.ok(ia.sourceTs > 0 && ia.gatewayTs >= ia.sourceTs - 1000, 'source and gateway timestamps');
  });

  t.test('a browse path resolves to the same variable', async (t) => {
    t.equal(recorder.latest('ftu-a-sw1', 'position')?.value, 2);
    t.equal(recorder.latest('ftu-a-sw1', 'uab')?.value, 10);
  });

  t.test('an unknown node is a bad reading naming the status; the other points are fine', async (t) => {
    const bogus = await recorder.reading(isBad('BAD_STATUS', 'ftu-a-r1', 'bogus'), 5000, 'bad reading for bogus', true);
    t.match(bogus.error?.message, /BadNodeIdUnknown/);
    t.equal(bogus.value, null);
    t.equal(bogus.error?.retryable, false);
    const lost = await recorder.reading(isBad('BAD_STATUS', 'ftu-a-sw1', 'lost'), 5000, 'bad reading for lost', true);
    t.match(lost.error?.message, /BadNoMatch/);
    t.match(lost.error?.message, /\/1:ftu-a-sw1\/1:NoSuchChild/);
    t.equal(recorder.latest('ftu-a-r1', 'position')?.quality, 'good');
    t.equal(recorder.latest('ftu-a-r1', 'faultFlag')?.quality, 'good');
    t.equal(recorder.latest('ftu-a-r1', 'uab')?.value, 10_000, 'a node id by namespace URI');
    const elsewhere = await recorder.reading(isBad('BAD_STATUS', 'ftu-a-r1', 'elsewhere'), 5000, 'unknown namespace', true);
    t.match(elsewhere.error?.message, /BadNodeIdUnknown: namespace "urn:no-such-namespace"/);
    t.ok(logger.lines.some((l) => l.level === 'warn' && /not monitored/.test(l.msg)), 'logged once as a warning');
  });

  t.test('a switch opened in the model reaches the driver within about a second', async (t) => {
    const started = Date.now();
    const opened = recorder.reading(is('ftu-a-sw1', 'position', 1), 3000, 'A-SW1 open');
    model.setSwitch('A-SW1', 'open');
    await opened;
    const latency = Date.now() - started;
    t.ok(latency < 1000, `change to reading in ${latency} ms`);
    model.setSwitch('A-SW1', 'closed');
    await recorder.reading(is('ftu-a-sw1', 'position', 2), 3000, 'A-SW1 closed again');
  });

  t.test('a fault trips the breaker: fault flag and position in one batch per device', async (t) => {
    const tripped = recorder.next(
      (b) => b.some(is('ftu-a-cb', 'position', 1)) && b.some(is('ftu-a-cb', 'faultFlag', 1)),
      3000,
      'A-CB tripped with fault flag',
    );
    model.injectFault('A-S1');
    const batch = await tripped;
    t.ok(batch.every((r) => r.deviceId === 'ftu-a-cb'), 'the batch holds one device');
    model.clearFault('A-S1');
    model.setSwitch('A-CB', 'closed');
    await recorder.reading(is('ftu-a-cb', 'position', 2), 3000, 'A-CB closed again');
  });

  t.test('every batch holds the readings of one device', async (t) => {
    t.ok(recorder.batches.length > 0);
    t.ok(recorder.batches.every((b) => b.length > 0 && b.every((r) => r.deviceId === b[0]?.deviceId)));
  });

  t.test('server restart mid-test: values flow again without restarting the driver', async (t) => {
    const before = recorder.batches.length;
    const lost = recorder.next((b) => b.some(isBad('SESSION_LOST')), 10_000, 'SESSION_LOST');
    await server.stop();
    await lost;
    // While the server is down, switch A-R1 opens: the restarted server starts with it open.
    model.setSwitch('A-R1', 'open');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await server.start();
    await recorder.reading(is('ftu-a-r1', 'position', 1), 20_000, 'A-R1 open after the restart');
    // And a change made after the restart flows too (the monitored items exist again on the server).
    const closed = recorder.reading(is('ftu-a-r1', 'position', 2), 5000, 'A-R1 closed after the restart');
    model.setSwitch('A-R1', 'closed');
    await closed;
    const after = recorder.batches.slice(before);
    const lostReadings = after.flat().filter(isBad('SESSION_LOST'));
    const perPoint = new Map<string, number>();
    for (const r of lostReadings) perPoint.set(`${r.deviceId}/${r.point}`, (perPoint.get(`${r.deviceId}/${r.point}`) ?? 0) + 1);
    t.same([...new Set(perPoint.values())], [1], 'each point reported SESSION_LOST exactly once');
    t.equal(perPoint.size, 12, 'every point (including the unmonitored ones) went bad');
    t.ok(lostReadings.every((r) => r.value === null && r.error?.retryable === true));
  });

  t.test('stop() closes everything', async (t) => {
    await driver.stop();
    const count = recorder.batches.length;
    model.setSwitch('A-SW1', 'open');
    await new Promise((resolve) => setTimeout(resolve, 500));
    t.equal(recorder.batches.length, count, 'no readings after stop');
    model.setSwitch('A-SW1', 'closed');
    t.equal(server.sessionCount, 0, 'the server has no session left');
  });
});

t.test('monitoring parameters: absolute and percent deadbands, queue size, a filter the node refuses', async (t) => {
  const port = server.boundPort;
  const pki = await tempPki();
  t.teardown(pki.cleanup);
  const recorder = new Recorder();
  const driver = new OpcUaDriver(
    [
      opcuaDevice('ftu-a-cb', 'A-CB', port, {
        points: [
          point('iaAbsolute', { nodeId: 'ns=1;s=ftu-a-cb.Ia', deadband: { type: 'absolute', value: 50 } }),
          // EURange of Ib is 0..2000 A: 5 % is 100 A.
          point('ibPercent', { nodeId: 'ns=1;s=ftu-a-cb.Ib', deadband: { type: 'percent', value: 5 } }),
          point('icQueued', { nodeId: 'ns=1;s=ftu-a-cb.Ic', samplingIntervalMs: 0, queueSize: 10 }),
          point('positionPercent', { nodeId: 'ns=1;s=ftu-a-cb.Position', deadband: { type: 'percent', value: 5 } }),
        ],
      }),
    ],
    pki.client,
    { clock: systemClock },
  );
  await driver.start(recorder.sink);
  t.teardown(() => driver.stop());
  await recorder.until(() => recorder.latest('ftu-a-cb', 'iaAbsolute')?.quality === 'good', 15_000, 'first values');
  const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 400));

  t.test('a percent deadband on a variable without EURange is refused for that point only', async (t) => {
    const refused = await recorder.reading(isBad('BAD_STATUS', 'ftu-a-cb', 'positionPercent'), 5000, 'refused filter', true);
    t.match(refused.error?.message, /^Bad\w+/);
    t.equal(recorder.latest('ftu-a-cb', 'ibPercent')?.quality, 'good');
  });

  t.test('absolute deadband 50', async (t) => {
    server.setPointValue('ftu-a-cb', 'Ia', 1000);
    await recorder.reading(is('ftu-a-cb', 'iaAbsolute', 1000), 3000, 'Ia 1000');
    server.setPointValue('ftu-a-cb', 'Ia', 1030);
    await settle();
    t.equal(recorder.latest('ftu-a-cb', 'iaAbsolute')?.value, 1000, 'a change of 30 is inside the deadband');
    server.setPointValue('ftu-a-cb', 'Ia', 1060);
    await recorder.reading(is('ftu-a-cb', 'iaAbsolute', 1060), 3000, 'Ia 1060 (60 from the last value sent)');
  });

  t.test('percent deadband 5 % of 0..2000', async (t) => {
    server.setPointValue('ftu-a-cb', 'Ib', 1000);
    await recorder.reading(is('ftu-a-cb', 'ibPercent', 1000), 3000, 'Ib 1000');
    server.setPointValue('ftu-a-cb', 'Ib', 1080);
    await settle();
    t.equal(recorder.latest('ftu-a-cb', 'ibPercent')?.value, 1000, 'a change of 80 A (4 %) is inside the deadband');
    server.setPointValue('ftu-a-cb', 'Ib', 1150);
    await recorder.reading(is('ftu-a-cb', 'ibPercent', 1150), 3000, 'Ib 1150 (7.5 %)');
  });

  t.test('queue size 10 with exception-based sampling: every value of a burst arrives, in order', async (t) => {
    const burst = recorder.next((b) => b.some(is('ftu-a-cb', 'icQueued', 3)), 3000, 'the burst');
    server.setPointValue('ftu-a-cb', 'Ic', 1);
    server.setPointValue('ftu-a-cb', 'Ic', 2);
    server.setPointValue('ftu-a-cb', 'Ic', 3);
    const batch = await burst;
    t.same(
      batch.filter((r) => r.point === 'icQueued').map((r) => r.value),
      [1, 2, 3],
      'one notification, one batch, three values',
    );
  });
});

t.test('no timers left once driver and server are stopped', async (t) => {
  await server.dispose();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const timers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  t.ok(timers <= baselineTimers, `Timeout handles: ${timers} (before: ${baselineTimers})`);
});
