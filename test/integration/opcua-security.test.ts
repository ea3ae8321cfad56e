/**
 * OPC UA security end to end, against the simulator's server (Basic256Sha256 Sign and SignAndEncrypt,
 * user names): an unknown server certificate is refused with a clear error naming the file in rejected/
 * and the `feederwatch pki trust` command; once trusted through `feederwatch pki trust` the same running
 * driver connects; a wrong password is refused with a clear error; the gateway's own certificate is made
 * on first start.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { exitWhenDone } from '../helpers/exit-when-done.js';
import { systemClock } from '../../gateway/clock.js';
import type { OpcUaClientConfig, OpcUaDeviceConfig } from '../../gateway/config/site-config.js';
import { pkiCommand } from '../../gateway/cli/pki.js';
import type { CommandContext } from '../../gateway/cli/commands.js';
import { OpcUaDriver } from '../../drivers/opcua/opcua-driver.js';
import { routeNodeOpcuaLogs } from '../../drivers/opcua/node-opcua-logs.js';
import { pkiLayout, readCertificate } from '../../drivers/opcua/pki-store.js';
import { FeederModel } from '../../simulators/feeder-model.js';
import { OpcUaFtuServer } from '../../simulators/opcua-server.js';
import { is, isBad, MemoryLogger, opcuaDevice, opcuaSite, Recorder, tempPki } from '../helpers/opcua-fixture.js';

exitWhenDone(t);

routeNodeOpcuaLogs(new MemoryLogger());

const USER = { username: 'operator', password: 'feeder-secret' };
const served = [opcuaDevice('ftu-a-cb', 'A-CB', 0)];
const model = new FeederModel(opcuaSite(served), { clock: systemClock });
// Anonymous sessions refused: every session must log in.
const server = new OpcUaFtuServer({ model, devices: served, clock: systemClock, port: 0, users: [USER], refreshIntervalMs: 0 });

t.before(() => server.start());
t.teardown(() => server.dispose());

function device(fields: Partial<OpcUaDeviceConfig>): OpcUaDeviceConfig {
  return opcuaDevice('ftu-a-cb', 'A-CB', server.boundPort, { ...USER, ...fields });
}

function fastDriver(devices: OpcUaDeviceConfig[], client: OpcUaClientConfig, logger = new MemoryLogger()): OpcUaDriver {
  return new OpcUaDriver(devices, client, {
    clock: systemClock,
    logger,
    retry: { initialDelayMs: 200, maxDelayMs: 500 },
    reconnect: { initialDelayMs: 200, maxDelayMs: 500 },
  });
}

function cliContext(): CommandContext & { out: string; err: string } {
  const ctx = {
    out: '',
    err: '',
    env: process.env,
    stdout: (s: string) => void (ctx.out += s),
    stderr: (s: string) => void (ctx.err += s),
  };
  return ctx;
}

t.test('SignAndEncrypt: refused while the server certificate is unknown, connected once trusted with pki trust', async (t) => {
  const pki = await tempPki();
  t.teardown(pki.cleanup);
  const logger = new MemoryLogger();
  const recorder = new Recorder();
  const driver = fastDriver([device({ securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256' })], pki.client, logger);
  await driver.start(recorder.sink);
  t.teardown(() => driver.stop());

  const refused = await recorder.reading(isBad('CERTIFICATE_REJECTED', 'ftu-a-cb', 'position'), 20_000, 'CERTIFICATE_REJECTED');
  const rejected = await readdir(pkiLayout(pki.client.pkiDir).rejected);
  t.equal(rejected.length, 1, 'the server certificate landed in rejected/');
  const rejectedFile = join(pkiLayout(pki.client.pkiDir).rejected, rejected[0] as string);
  const serverCert = await readCertificate(server.certificateFile);
  t.match(refused.error?.message, serverCert.info.thumbprint, 'the message gives the thumbprint');
  t.ok(refused.error?.message.includes(rejectedFile), 'the message names the file in rejected/');
  t.match(refused.error?.message, /feederwatch pki trust /, 'and the command that trusts it');
  t.equal(refused.error?.retryable, false);
  t.equal(refused.value, null);
  t.ok(
    logger.lines.some((l) => l.level === 'error' && l.msg.includes(rejectedFile) && l.msg.includes('feederwatch pki trust')),
    'logged as an error with the file and the command',
  );
  t.ok(existsSync(pkiLayout(pki.client.pkiDir).ownCertificate), "the gateway's own certificate was made on first start");

  // A few more attempts: still refused, but reported once.
  await new Promise((resolve) => setTimeout(resolve, 1200));
  t.equal(recorder.batches.flat().filter(isBad('CERTIFICATE_REJECTED', 'ftu-a-cb', 'position')).length, 1, 'reported once');

  const ctx = cliContext();
  const code = await pkiCommand.run({ pki: pki.client.pkiDir }, ctx, ['trust', rejectedFile]);
  t.equal(code, 0, `pki trust exits 0 (${ctx.err})`);
  t.match(ctx.out, serverCert.info.thumbprint, 'pki trust prints the thumbprint');
  t.match(ctx.out, /CN=/, 'and the subject');
  t.same(await readdir(pkiLayout(pki.client.pkiDir).rejected), [], 'rejected/ is empty again');

  // The same running driver connects at its next attempt.
  await recorder.reading(is('ftu-a-cb', 'position', 2), 20_000, 'a value over SignAndEncrypt');
  t.equal(recorder.latest('ftu-a-cb', 'uab')?.value, 10);
});

t.test('the server comes back with a new certificate: refused until trusted, then values flow again', async (t) => {
  const pki = await tempPki();
  t.teardown(pki.cleanup);
  t.equal(await pkiCommand.run({ pki: pki.client.pkiDir }, cliContext(), ['trust', server.certificateFile]), 0);
  const recorder = new Recorder();
  const logger = new MemoryLogger();
  const driver = fastDriver([device({ securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256' })], pki.client, logger);
  await driver.start(recorder.sink);
  t.teardown(() => driver.stop());
  await recorder.reading(is('ftu-a-cb', 'position', 2), 20_000, 'a value with the first certificate');

  await server.stop();
  await server.renewCertificate();
  await server.start();
  const refused = await recorder.reading(isBad('CERTIFICATE_REJECTED', 'ftu-a-cb', 'position'), 30_000, 'the new certificate refused');
  const rejected = await readdir(pkiLayout(pki.client.pkiDir).rejected);
  t.equal(rejected.length, 1, 'the new certificate is in rejected/');
  const file = join(pkiLayout(pki.client.pkiDir).rejected, rejected[0] as string);
  t.ok(refused.error?.message.includes(file), 'the message names it');
  t.equal((await readCertificate(file)).info.thumbprint, (await readCertificate(server.certificateFile)).info.thumbprint);

  t.equal(await pkiCommand.run({ pki: pki.client.pkiDir }, cliContext(), ['trust', file]), 0);
  const closed = recorder.reading(is('ftu-a-cb', 'position', 1), 30_000, 'a change after trusting the new certificate');
  await recorder.reading(is('ftu-a-cb', 'position', 2), 30_000, 'values again after trusting the new certificate');
  model.setSwitch('A-CB', 'open');
  await closed;
  model.setSwitch('A-CB', 'closed');
});

t.test('Sign with the server certificate trusted beforehand (copied from the server, any file)', async (t) => {
  const pki = await tempPki();
  t.teardown(pki.cleanup);
  const ctx = cliContext();
  t.equal(await pkiCommand.run({ pki: pki.client.pkiDir }, ctx, ['trust', server.certificateFile]), 0, ctx.err);
  const recorder = new Recorder();
  const driver = fastDriver([device({ securityMode: 'Sign', securityPolicy: 'Basic256Sha256' })], pki.client);
  await driver.start(recorder.sink);
  t.teardown(() => driver.stop());
  await recorder.reading(is('ftu-a-cb', 'position', 2), 20_000, 'a value over Sign');
  t.notOk(recorder.batches.flat().some(isBad('CERTIFICATE_REJECTED')), 'never refused');
});

t.test('automaticallyAcceptUnknownCertificate: true trusts the server at first sight', async (t) => {
  const pki = await tempPki();
  t.teardown(pki.cleanup);
  const recorder = new Recorder();
  const client = { ...pki.client, automaticallyAcceptUnknownCertificate: true };
  const driver = fastDriver([device({ securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256' })], client);
  await driver.start(recorder.sink);
  t.teardown(() => driver.stop());
  await recorder.reading(is('ftu-a-cb', 'position', 2), 20_000, 'a value');
  t.equal((await readdir(pkiLayout(pki.client.pkiDir).trusted)).length, 1, 'the certificate is in trusted/');
});

t.test('user name and password: accepted; a wrong password is refused with a clear error', async (t) => {
  const pki = await tempPki();
  t.teardown(pki.cleanup);

  const good = new Recorder();
  const goodDriver = fastDriver([device({})], pki.client);
  await goodDriver.start(good.sink);
  t.teardown(() => goodDriver.stop());
  await good.reading(is('ftu-a-cb', 'position', 2), 20_000, 'a value with the right password');

  const logger = new MemoryLogger();
  const bad = new Recorder();
  const badDriver = fastDriver([device({ password: 'wrong' })], pki.client, logger);
  await badDriver.start(bad.sink);
  t.teardown(() => badDriver.stop());
  const refused = await bad.reading(isBad('BAD_STATUS', 'ftu-a-cb', 'position'), 20_000, 'refused login');
  t.match(refused.error?.message, /BadUserAccessDenied/);
  t.match(refused.error?.message, /rejected user "operator" \(wrong user name or password\?\)/);
  t.equal(refused.error?.retryable, false);
  t.notOk(JSON.stringify(logger.lines).includes('"wrong"'), 'the password is not logged');
  t.notOk(JSON.stringify(bad.batches).includes('"wrong"'), 'nor put in readings');

  const anonymous = new Recorder();
  const anonDriver = fastDriver([opcuaDevice('ftu-a-cb', 'A-CB', server.boundPort)], pki.client);
  await anonDriver.start(anonymous.sink);
  t.teardown(() => anonDriver.stop());
  const anonRefused = await anonymous.reading(isBad('BAD_STATUS', 'ftu-a-cb', 'position'), 20_000, 'refused anonymous session');
  t.match(anonRefused.error?.message, /anonymous session/);
});

t.test('pki list shows own, trusted and rejected certificates', async (t) => {
  const pki = await tempPki();
  t.teardown(pki.cleanup);
  const recorder = new Recorder();
  const driver = fastDriver([device({ securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256' })], pki.client);
  await driver.start(recorder.sink);
  await recorder.reading(isBad('CERTIFICATE_REJECTED'), 20_000, 'CERTIFICATE_REJECTED');
  await driver.stop();
  const ctx = cliContext();
  t.equal(await pkiCommand.run({ pki: pki.client.pkiDir }, ctx, ['list']), 0);
  t.match(ctx.out, /own \(.*\): 1/);
  t.match(ctx.out, /trusted \(.*\): none/);
  t.match(ctx.out, /rejected \(.*\): 1/);
  t.match(ctx.out, /feederwatch FTU simulator/);
});
