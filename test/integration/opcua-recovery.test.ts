/**
 * The OPC UA driver's own recovery, beyond node-opcua's reconnection: the server loses the subscription
 * (or the session) while the connection stays up - nothing breaks on the socket, the subscription just
 * goes silent or BadSessionIdInvalid comes back - and the driver must notice and re-create session,
 * subscription and monitored items itself. Also: a server that is down when the driver starts.
 */
import t, { type Test } from 'tap';
import { exitWhenDone } from '../helpers/exit-when-done.js';
import { systemClock } from '../../gateway/clock.js';
import { OpcUaDriver } from '../../drivers/opcua/opcua-driver.js';
import { routeNodeOpcuaLogs } from '../../drivers/opcua/node-opcua-logs.js';
import { FeederModel } from '../../simulators/feeder-model.js';
import { OpcUaFtuServer } from '../../simulators/opcua-server.js';
import { is, isBad, MemoryLogger, opcuaDevice, opcuaSite, Recorder, tempPki } from '../helpers/opcua-fixture.js';

exitWhenDone(t);

routeNodeOpcuaLogs(new MemoryLogger());

const served = [opcuaDevice('ftu-a-r1', 'A-R1', 0), opcuaDevice('ftu-b-cb', 'B-CB', 0)];
const model = new FeederModel(opcuaSite(served), { clock: systemClock });
const server = new OpcUaFtuServer({ model, devices: served, clock: systemClock, port: 0, refreshIntervalMs: 0 });

t.before(() => server.start());
t.teardown(() => server.dispose());

async function startDriver(t: Test): Promise<{ driver: OpcUaDriver; recorder: Recorder; logger: MemoryLogger }> {
  const pki = await tempPki();
  const port = server.boundPort;
  const logger = new MemoryLogger();
  const recorder = new Recorder();
  const driver = new OpcUaDriver([opcuaDevice('ftu-a-r1', 'A-R1', port), opcuaDevice('ftu-b-cb', 'B-CB', port)], pki.client, {
    clock: systemClock,
    logger,
    retry: { initialDelayMs: 200, maxDelayMs: 1000 },
    reconnect: { initialDelayMs: 200, maxDelayMs: 1000 },
  });
  await driver.start(recorder.sink);
  t.teardown(async () => {
    await driver.stop();
    await pki.cleanup();
  });
  return { driver, recorder, logger };
}

t.test('the server drops the subscription, the session stays: the driver re-creates it', async (t) => {
  const { recorder, logger } = await startDriver(t);
  await recorder.reading(is('ftu-a-r1', 'position', 2), 15_000, 'first value');
  const lost = recorder.next((b) => b.some(isBad('SESSION_LOST', 'ftu-a-r1')), 15_000, 'SESSION_LOST after the drop');
  const dropped = server.dropSubscriptions();
  t.equal(dropped, 1, 'one subscription dropped on the server');
  const started = Date.now();
  await lost;
  t.ok(Date.now() - started < 10_000, `loss noticed in ${Date.now() - started} ms`);
  // The re-created monitored items deliver the present value, and later changes flow.
  await recorder.reading(is('ftu-a-r1', 'position', 2), 15_000, 'value after re-creation');
  const opened = recorder.reading(is('ftu-a-r1', 'position', 1), 5000, 'A-R1 open after re-creation');
  model.setSwitch('A-R1', 'open');
  await opened;
  model.setSwitch('A-R1', 'closed');
  await recorder.reading(is('ftu-a-r1', 'position', 2), 5000, 'A-R1 closed again');
  t.ok(
    logger.lines.some((l) => /OPC UA subscription live/.test(l.msg) && (l.fields?.connection as number) >= 2),
    'a new connection was built',
  );
});

t.test('the server closes the session, the channel stays: the driver re-creates it', async (t) => {
  const { recorder } = await startDriver(t);
  await recorder.reading(is('ftu-b-cb', 'position', 2), 15_000, 'first value');
  const lost = recorder.next((b) => b.some(isBad('SESSION_LOST', 'ftu-b-cb')), 15_000, 'SESSION_LOST after the close');
  t.ok(server.closeSessions() >= 1, 'sessions closed on the server');
  await lost;
  const opened = recorder.reading(is('ftu-b-cb', 'position', 1), 20_000, 'B-CB open after re-creation');
  await recorder.reading(is('ftu-b-cb', 'position', 2), 15_000, 'value after re-creation');
  model.setSwitch('B-CB', 'open');
  await opened;
  model.setSwitch('B-CB', 'closed');
});

t.test('server down when the driver starts: CONNECTION_REFUSED, then values once it is up', async (t) => {
  await server.stop();
  const { recorder } = await startDriver(t);
  const refused = await recorder.reading(isBad('CONNECTION_REFUSED', 'ftu-a-r1'), 10_000, 'CONNECTION_REFUSED');
  t.match(refused.error?.message, /cannot connect to opc\.tcp:\/\/127\.0\.0\.1:\d+/);
  t.equal(refused.error?.retryable, true);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const count = recorder.batches.flat().filter(isBad('CONNECTION_REFUSED', 'ftu-a-r1', 'position')).length;
  t.equal(count, 1, 'reported once, not at every attempt');
  await server.start();
  await recorder.reading(is('ftu-a-r1', 'position', 2), 20_000, 'value once the server is up');
});

t.test('stop() while the endpoint is unreachable leaves no timer behind', async (t) => {
  await server.stop();
  const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const pki = await tempPki();
  t.teardown(pki.cleanup);
  const recorder = new Recorder();
  const driver = new OpcUaDriver([opcuaDevice('ftu-a-r1', 'A-R1', server.boundPort)], pki.client, { clock: systemClock });
  await driver.start(recorder.sink);
  await recorder.reading(isBad('CONNECTION_REFUSED'), 10_000, 'CONNECTION_REFUSED');
  const stopping = Date.now();
  await driver.stop();
  t.ok(Date.now() - stopping < 3000, `stopped in ${Date.now() - stopping} ms`);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const after = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  t.ok(after <= before, `Timeout handles after stop: ${after} (before start: ${before})`);
  await server.start();
});
