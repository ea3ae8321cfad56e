/**
 * The simulator's OPC UA FTU server, read with a plain node-opcua client (not the gateway's driver): address
 * space, values following the feeder model, restart on the same port with the same certificate, one server
 * per endpoint.
 */
import t from 'tap';
import { exitWhenDone } from '../helpers/exit-when-done.js';
import { AttributeIds, DataType, makeBrowsePath, OPCUAClient, type ClientSession } from 'node-opcua';
import { systemClock } from '../../gateway/clock.js';
import { readCertificate } from '../../drivers/opcua/pki-store.js';
import { routeNodeOpcuaLogs } from '../../drivers/opcua/node-opcua-logs.js';
import { FeederModel } from '../../simulators/feeder-model.js';
import { FTU_VARIABLE_NAMES, ftuBrowsePath, ftuNodeId, OpcUaFtuServer, startOpcUaFtuServers } from '../../simulators/opcua-server.js';
import { MemoryLogger, opcuaDevice, opcuaSite } from '../helpers/opcua-fixture.js';

exitWhenDone(t);

routeNodeOpcuaLogs(new MemoryLogger());

async function withSession<T>(endpointUrl: string, fn: (session: ClientSession) => Promise<T>): Promise<T> {
  const client = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 1, initialDelay: 100, maxDelay: 200 } });
  await client.connect(endpointUrl);
  try {
    const session = await client.createSession();
    try {
      return await fn(session);
    } finally {
      await session.close();
    }
  } finally {
    await client.disconnect();
  }
}

async function readValues(session: ClientSession, deviceId: string): Promise<Record<string, unknown>> {
  const values = await session.read(FTU_VARIABLE_NAMES.map((v) => ({ nodeId: ftuNodeId(deviceId, v), attributeId: AttributeIds.Value })));
  return Object.fromEntries(FTU_VARIABLE_NAMES.map((v, i) => [v, values[i]?.value.value]));
}

t.test('address space and values follow the model; restart keeps port and certificate', async (t) => {
  const devices = [
    opcuaDevice('ftu-a-r1', 'A-R1', 0),
    opcuaDevice('ftu-a-sw1', 'A-SW1', 0),
    // Bound to a customer: not an FTU, not served.
    { ...opcuaDevice('meter-ca11', 'A-R1', 0), binds: { customer: 'CA11' } },
  ];
  const model = new FeederModel(opcuaSite(devices), { clock: systemClock });
  const server = new OpcUaFtuServer({ model, devices, clock: systemClock, port: 0, refreshIntervalMs: 0 });
  t.same(server.deviceIds, ['ftu-a-r1', 'ftu-a-sw1'], 'switch-bound devices only');
  await server.start();
  t.teardown(() => server.dispose());
  t.match(server.endpointUrl, /^opc\.tcp:\/\/127\.0\.0\.1:\d+$/);

  await withSession(server.endpointUrl, async (session) => {
    const r1 = await readValues(session, 'ftu-a-r1');
    t.equal(r1.Position, 2, 'closed: double point 2');
    t.equal(r1.FaultFlag, false);
    t.equal(r1.Uab, 10_000);
    t.equal(r1.VoltagePresent, true);
    // A-R1 feeds A-S2, A-S3 and A-S4: transformers TA2, TA3, TA4 at 12 A each, swinging by 5 %.
    const ia = r1.Ia as number;
    t.ok(ia >= 34.2 && ia <= 37.8, `Ia ${ia} A is 3 x 12 A +- 5 %`);
    t.ok(r1.Ia === r1.Ib && r1.Ib === r1.Ic, 'balanced load');
    const position = await session.read({ nodeId: ftuNodeId('ftu-a-r1', 'Position'), attributeId: AttributeIds.DataType });
    t.equal(position.value.value.value, DataType.UInt16, 'Position is a UInt16');
    const [paths] = await session.translateBrowsePath([makeBrowsePath('ObjectsFolder', ftuBrowsePath('ftu-a-sw1', 'Uab'))]);
    t.equal(paths?.targets?.[0]?.targetId.toString(), 'ns=1;s=ftu-a-sw1.Uab', 'the browse path leads to the node id');

    model.injectFault('A-S2'); // trips A-R1: the FTU of A-R1 saw the fault, A-SW1 is downstream and dark
    const r1Tripped = await readValues(session, 'ftu-a-r1');
    t.same([r1Tripped.Position, r1Tripped.FaultFlag, r1Tripped.Ia, r1Tripped.Uab], [1, true, 0, 10_000]);
    const sw1 = await readValues(session, 'ftu-a-sw1');
    t.same([sw1.Position, sw1.Uab, sw1.VoltagePresent], [2, 0, false], 'A-SW1 closed but dark');
    model.clearFault('A-S2');
    model.setSwitch('A-R1', 'closed');
  });

  const port = server.boundPort;
  const thumbprint = (await readCertificate(server.certificateFile)).info.thumbprint;
  await server.restart();
  t.equal(server.boundPort, port, 'same port after restart');
  t.equal((await readCertificate(server.certificateFile)).info.thumbprint, thumbprint, 'same certificate after restart');
  await withSession(server.endpointUrl, async (session) => {
    t.equal((await readValues(session, 'ftu-a-r1')).Position, 2, 'values served again');
  });
});

t.test('a device bound to an unknown switch is refused', async (t) => {
  const devices = [opcuaDevice('ftu-x', 'NO-SUCH-SWITCH', 0)];
  const model = new FeederModel(opcuaSite([]), { clock: systemClock });
  t.throws(() => new OpcUaFtuServer({ model, devices, clock: systemClock }), /bound to unknown switch "NO-SUCH-SWITCH"/);
});

t.test('startOpcUaFtuServers: one server per endpoint', async (t) => {
  const devices = [
    opcuaDevice('ftu-a-cb', 'A-CB', 4841),
    opcuaDevice('ftu-a-r1', 'A-R1', 4841),
    opcuaDevice('ftu-b-cb', 'B-CB', 4842),
  ];
  const model = new FeederModel(opcuaSite(devices), { clock: systemClock });
  const asked: Array<[string, number]> = [];
  const servers = await startOpcUaFtuServers(devices, {
    model,
    clock: systemClock,
    refreshIntervalMs: 0,
    portOverride: (host, port) => {
      asked.push([host, port]);
      return 0;
    },
  });
  t.teardown(() => Promise.all(servers.map((s) => s.dispose())));
  t.same(asked, [['127.0.0.1', 4841], ['127.0.0.1', 4842]]);
  t.same(servers.map((s) => s.deviceIds), [['ftu-a-cb', 'ftu-a-r1'], ['ftu-b-cb']]);
  t.not(servers[0]?.boundPort, servers[1]?.boundPort);
  await withSession((servers[1] as OpcUaFtuServer).endpointUrl, async (session) => {
    t.equal((await readValues(session, 'ftu-b-cb')).Position, 2);
  });
});
