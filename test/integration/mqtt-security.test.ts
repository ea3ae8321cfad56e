/**
 * MQTT with mutual TLS and a password: the gateway's publisher connects to a real Mosquitto that requires both,
 * the secrets come from the environment, and neither the password nor a wrong-password attempt leaks to logs.
 */
import t from 'tap';
import { rm } from 'node:fs/promises';
import mqtt from 'mqtt';
import { createLogger } from '../../gateway/log.js';
import { MqttPublisher } from '../../gateway/publish/mqtt-publisher.js';
import type { MqttConfig } from '../../gateway/config/site-config.js';
import { makeTestPki, startMosquitto } from '../helpers/services.js';

const PASSWORD = 'Xq7-secret-pass';

t.test('mutual TLS + username/password; secrets never logged; bad credentials give a clear log error', async (t) => {
  const pki = await makeTestPki();
  t.teardown(() => rm(pki.dir, { recursive: true, force: true }));
  const broker = await startMosquitto({
    user: { username: 'gateway', password: PASSWORD },
    tls: { caFile: pki.caFile, certFile: pki.serverCert, keyFile: pki.serverKey, requireClientCertificate: true },
  });
  t.teardown(() => broker.stop());
  t.match(broker.url, /^mqtts:\/\//);

  const lines: string[] = [];
  const logger = createLogger({ format: 'json', level: 'debug', write: (l) => lines.push(l), secrets: [PASSWORD] });
  const config: MqttConfig = {
    url: broker.url,
    clientId: 'fw-tls-test',
    username: 'gateway',
    password: PASSWORD,
    protocolVersion: 5,
    tls: { ca: pki.caFile, cert: pki.clientCert, key: pki.clientKey, rejectUnauthorized: true },
  };
  const publisher = new MqttPublisher(config, { siteId: 'tls-site', logger, version: 'test' });
  await publisher.start();
  await publisher.waitConnected(10_000);
  t.ok(publisher.connected, 'connected over mutual TLS with MQTT 5');

  // A consumer with the same credentials sees the retained birth.
  const consumer = await mqtt.connectAsync(broker.url, {
    username: 'gateway',
    password: PASSWORD,
    ca: (await import('node:fs')).readFileSync(pki.caFile),
    cert: (await import('node:fs')).readFileSync(pki.clientCert),
    key: (await import('node:fs')).readFileSync(pki.clientKey),
  });
  const birth = new Promise<string>((resolve) => consumer.on('message', (_t, p) => resolve(p.toString())));
  await consumer.subscribeAsync('feederwatch/v1/tls-site/status');
  t.match(JSON.parse(await birth), { online: true, siteId: 'tls-site' });
  await consumer.endAsync();
  await publisher.stop();

  // Wrong password: refused by the broker, reported in the log, nothing thrown.
  const wrong = new MqttPublisher({ ...config, clientId: 'fw-tls-wrong', password: 'not-the-password' }, { siteId: 'tls-site', logger, version: 'test' });
  await wrong.start();
  await t.rejects(wrong.waitConnected(2000), /not connected/);
  await wrong.stop();

  // Unknown CA: the broker's certificate is not trusted when we give no CA.
  const untrusted = new MqttPublisher({ ...config, clientId: 'fw-tls-untrusted', tls: { cert: pki.clientCert, key: pki.clientKey, rejectUnauthorized: true } }, { siteId: 'tls-site', logger, version: 'test' });
  await untrusted.start();
  await t.rejects(untrusted.waitConnected(2000), /not connected/);
  await untrusted.stop();

  const log = lines.join('\n');
  t.notMatch(log, new RegExp(PASSWORD), 'the password never reaches the log');
  t.notMatch(log, /not-the-password/, 'nor a wrong one (field redaction)');
  t.match(log, /MQTT error/, 'the refusal is logged');
  t.match(log, /self[- ]signed|unable to get local issuer|certificate/i, 'the certificate problem is named');
});
