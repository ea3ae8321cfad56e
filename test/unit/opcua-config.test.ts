/**
 * From OPC UA configuration to what node-opcua is asked: error classification of node-opcua's connect
 * messages (the texts below are node-opcua 2.182's own), monitoring parameters, subscription timing,
 * browse paths, channel grouping and the driver's constructor checks.
 */
import t from 'tap';
import { DataChangeFilter, DataChangeTrigger, DeadbandType } from 'node-opcua';
import { systemClock } from '../../gateway/clock.js';
import type { OpcUaDeviceConfig, OpcUaPointConfig } from '../../gateway/config/site-config.js';
import { channelId, groupByChannel } from '../../drivers/opcua/channels.js';
import { badStatusError, connectFailureKind, statusNameIn } from '../../drivers/opcua/errors.js';
import { browsePathFromObjects, monitoringKey, monitoringParameters, subscriptionTiming } from '../../drivers/opcua/monitoring.js';
import { OpcUaDriver } from '../../drivers/opcua/opcua-driver.js';

const pt = (fields: Partial<OpcUaPointConfig>): OpcUaPointConfig => ({ name: 'p', nodeId: 'ns=1;s=X', scale: 1, offset: 0, samplingIntervalMs: 100, queueSize: 1, ...fields });

function dev(id: string, fields: Partial<OpcUaDeviceConfig> = {}): OpcUaDeviceConfig {
  return {
    id,
    protocol: 'opcua',
    endpointUrl: 'opc.tcp://10.0.0.5:4840',
    securityMode: 'None',
    securityPolicy: 'None',
    timeoutMs: 2000,
    binds: { switch: 'S' },
    points: [pt({})],
    ...fields,
  };
}

t.test('connect failures classified from node-opcua messages', async (t) => {
  const cases: Array<[string, ReturnType<typeof connectFailureKind>]> = [
    ['server Certificate verification failed with err BadCertificateUntrusted (0x801a0000)', 'serverCertificateUntrusted'],
    ['server Certificate verification failed with err BadCertificateTimeInvalid (0x80140000)', 'serverCertificateUntrusted'],
    ['The connection has been rejected by server: BadSecurityChecksFailed (0x80130000)', 'clientCertificateRejected'],
    ['The connection has been rejected by server: BadCertificateUntrusted (0x801a0000)', 'clientCertificateRejected'],
    ['BadUserAccessDenied (0x801f0000)', 'userRejected'],
    ['BadIdentityTokenRejected (0x80210000)', 'userRejected'],
    ['Cannot find ANONYMOUS user token policy in end point description', 'userRejected'],
    ['cannot find endpoint for securityMode=SignAndEncrypt policy = http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256', 'noMatchingEndpoint'],
    [
      'The connection cannot be established with server opc.tcp://127.0.0.1:4840 .\nPlease check that the server is up and running or your network configuration.\nErr = (connect ECONNREFUSED 127.0.0.1:4840)',
      'unreachable',
    ],
    ['The connection may have been rejected by server,\n Err = (premature socket termination)', 'other'],
  ];
  for (const [message, kind] of cases) t.equal(connectFailureKind(new Error(message)), kind, message.split('\n')[0]);
});

t.test('status names and retryability', async (t) => {
  t.equal(statusNameIn('BadUserAccessDenied (0x801f0000)'), 'BadUserAccessDenied');
  t.equal(statusNameIn('no status here'), undefined);
  t.same(badStatusError('BadNodeIdUnknown', 'x'), { code: 'BAD_STATUS', message: 'BadNodeIdUnknown: x', retryable: false });
  t.same(badStatusError('BadServerNotConnected'), { code: 'BAD_STATUS', message: 'BadServerNotConnected', retryable: true });
});

t.test('monitoring parameters', async (t) => {
  t.same(monitoringParameters(pt({ samplingIntervalMs: 250, queueSize: 5 })), { samplingInterval: 250, queueSize: 5, discardOldest: true });
  const absolute = monitoringParameters(pt({ deadband: { type: 'absolute', value: 0.5 } })).filter;
  t.ok(absolute instanceof DataChangeFilter);
  t.match(absolute, { trigger: DataChangeTrigger.StatusValue, deadbandType: DeadbandType.Absolute, deadbandValue: 0.5 });
  const percent = monitoringParameters(pt({ deadband: { type: 'percent', value: 2 } })).filter;
  t.match(percent, { trigger: DataChangeTrigger.StatusValue, deadbandType: DeadbandType.Percent, deadbandValue: 2 });
  t.equal(monitoringKey(pt({})), monitoringKey(pt({ name: 'other', nodeId: 'ns=1;s=Y' })), 'equal parameters share a group');
  t.not(monitoringKey(pt({})), monitoringKey(pt({ deadband: { type: 'absolute', value: 1 } })));
});

t.test('subscription timing', async (t) => {
  t.same(subscriptionTiming([pt({ samplingIntervalMs: 500 }), pt({ samplingIntervalMs: 100 })], 1000), {
    publishingIntervalMs: 100,
    maxKeepAliveCount: 10,
    lifetimeCount: 600,
  });
  t.same(subscriptionTiming([pt({ samplingIntervalMs: 0 })], 1000), { publishingIntervalMs: 100, maxKeepAliveCount: 10, lifetimeCount: 600 });
  t.same(subscriptionTiming([pt({ samplingIntervalMs: 5000 })], 1000), { publishingIntervalMs: 1000, maxKeepAliveCount: 1, lifetimeCount: 60 }, 'slow points still publish every second');
  t.same(subscriptionTiming([pt({ samplingIntervalMs: 5 })], 1000).publishingIntervalMs, 20, 'not below 20 ms');
});

t.test('browse paths', async (t) => {
  const path = browsePathFromObjects('/2:FTU1/2:Position');
  t.same(
    path.relativePath.elements?.map((e) => e.targetName.toString()),
    ['2:FTU1', '2:Position'],
  );
  for (const bad of ['', '2:FTU1', '/2:FTU1//2:Position', '/2:FTU1/']) {
    t.throws(() => browsePathFromObjects(bad), /is not a browse path/, JSON.stringify(bad));
  }
});

t.test('one driver per endpoint, security and user', async (t) => {
  const groups = groupByChannel([
    dev('a'),
    dev('b'),
    dev('c', { securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256' }),
    dev('d', { username: 'op', password: 'x' }),
    dev('e', { endpointUrl: 'opc.tcp://10.0.0.6:4840' }),
    dev('f', { username: 'op', password: 'x' }),
  ]);
  t.same(groups.map((g) => g.map((d) => d.id)), [['a', 'b'], ['c'], ['d', 'f'], ['e']]);
  t.equal(channelId(dev('c', { securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256', username: 'op', password: 'secret' })),
    'opc.tcp://10.0.0.5:4840 Basic256Sha256/SignAndEncrypt user op', 'the id never holds the password');
});

t.test('the driver refuses configurations it cannot serve', async (t) => {
  const client = { pkiDir: '/nonexistent', applicationName: 'x', automaticallyAcceptUnknownCertificate: false };
  t.throws(() => new OpcUaDriver([], client, { clock: systemClock }), /at least one device/);
  t.throws(() => new OpcUaDriver([dev('a'), dev('b', { securityMode: 'Sign', securityPolicy: 'Basic256Sha256' })], client, { clock: systemClock }), /one driver serves one channel/);
  t.throws(() => new OpcUaDriver([dev('a', { points: [pt({ browsePath: '/1:A/1:B' })] })], client, { clock: systemClock }), /exactly one of nodeId and browsePath/);
  t.throws(() => new OpcUaDriver([dev('a', { points: [] })], client, { clock: systemClock }), /has no points/);
  const driver = new OpcUaDriver([dev('a'), dev('b')], client, { clock: systemClock });
  t.equal(driver.id, 'opc.tcp://10.0.0.5:4840');
  t.same(driver.deviceIds, ['a', 'b']);
  await driver.stop();
  t.pass('stop() before start() is harmless');
});
