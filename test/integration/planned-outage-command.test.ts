/**
 * A planned outage registered over MQTT (`<root>/cmd/plannedOutage`, authorized by the site's token) turns the
 * matching de-energization into a `planned` outage; a wrong token is refused with a clear answer.
 */
import t from 'tap';
import mqtt from 'mqtt';
import type { Outage } from '../../gateway/engine/events.js';
import { control, eventually, startDemoStack } from '../helpers/demo-stack.js';
import { MqttRecorder } from '../helpers/mqtt-recorder.js';
import { startMosquitto } from '../helpers/services.js';

const ROOT = 'feederwatch/v1/demo-xixi';
const TOKEN = 'planned-outage-token-0123456789';

t.test('planned outage by MQTT command, then the switch opens: kind planned', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const recorder = await MqttRecorder.connect(broker.url, `${ROOT}/#`, { validate: true });
  t.teardown(() => recorder.close());
  // Lead time 0: the window starts now so the test can open the switch inside it (the 7-day rule has its own tests).
  const stack = await startDemoStack({ mqttUrl: broker.url, commandsToken: TOKEN, noticeLeadTimeMs: 0 });
  t.teardown(() => stack.stop());
  await eventually('every device online', async () => (stack.gateway.status().devices.every((d) => d.state === 'online') ? true : undefined), 10_000);

  const sender = await mqtt.connectAsync(broker.url);
  t.teardown(() => sender.endAsync());
  // The window opens 2 s from now (a start already past is refused), and the switch is opened inside it.
  const now = Date.now();
  const window = { start: new Date(now + 2000).toISOString(), end: new Date(now + 3_600_000).toISOString() };

  await sender.publishAsync(`${ROOT}/cmd/plannedOutage`, JSON.stringify({ token: 'wrong-token-wrong-token', requestId: 'bad', id: 'PL-X', devices: ['F2-SW1'], ...window }), { qos: 1 });
  const refused = await recorder.waitFor('refusal', (m) => m.topic === `${ROOT}/cmd/plannedOutage/result` && m.payload.includes('"requestId":"bad"'), 5000);
  t.match(JSON.parse(refused.payload), { ok: false, error: 'not authorized: missing or wrong token' });

  await sender.publishAsync(`${ROOT}/cmd/plannedOutage`, JSON.stringify({ token: TOKEN, requestId: 'r1', id: 'PL-2026-07', devices: ['F2-SW1'], reason: 'cable joint', ...window }), { qos: 1 });
  const accepted = await recorder.waitFor('acceptance', (m) => m.topic === `${ROOT}/cmd/plannedOutage/result` && m.payload.includes('"requestId":"r1"'), 5000);
  t.match(JSON.parse(accepted.payload), { ok: true, registered: { id: 'PL-2026-07', devices: ['F2-SW1'] } });

  await new Promise((r) => setTimeout(r, Math.max(0, now + 2500 - Date.now())));
  const openAt = Date.now();
  await control(stack.controlUrl, 'POST', '/switches/F2-SW1', { position: 'open' });
  const msg = await recorder.waitFor('planned outage', (m) => m.topic.startsWith(`${ROOT}/outages/`) && m.payload.includes('"state":"active"'), 5000, openAt);
  const outage = JSON.parse(msg.payload) as Outage;
  t.equal(outage.kind, 'planned');
  t.equal(outage.plannedId, 'PL-2026-07');
  t.same(outage.customers, ['C20201', 'C20202']);
  t.same(outage.sections, ['F2-S2']);

  // Customer notices: the planned one at registration, no fault notice when the planned outage starts.
  const notices = recorder.messages.filter((m) => m.topic === `${ROOT}/notices`).map((m) => JSON.parse(m.payload) as { type: string; plannedId: string | null; customerIds: string[] });
  t.match(notices[0], { type: 'planned', plannedId: 'PL-2026-07', customerIds: ['C20201', 'C20202'] });
  t.notOk(notices.some((n) => n.type === 'fault'), 'no fault notice for a planned outage');

  t.same(recorder.violations, [], 'every payload validates against its schema');
});

t.test('a planned outage inside the 7-day notice lead time is refused', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const recorder = await MqttRecorder.connect(broker.url, `${ROOT}/#`, { validate: true });
  t.teardown(() => recorder.close());
  const stack = await startDemoStack({ mqttUrl: broker.url, commandsToken: TOKEN });
  t.teardown(() => stack.stop());
  const sender = await mqtt.connectAsync(broker.url);
  t.teardown(() => sender.endAsync());
  // The gateway subscribes to commands once connected to the broker.
  await recorder.waitFor('gateway birth', (m) => m.topic === `${ROOT}/status` && m.payload.includes('"online":true'), 10_000);
  await new Promise((r) => setTimeout(r, 500));
  const start = new Date(Date.now() + 2 * 86_400_000).toISOString();
  const end = new Date(Date.now() + 2 * 86_400_000 + 3_600_000).toISOString();
  await sender.publishAsync(`${ROOT}/cmd/plannedOutage`, JSON.stringify({ token: TOKEN, requestId: 'soon', id: 'PL-SOON', devices: ['F2-SW1'], start, end }), { qos: 1 });
  const answer = await recorder.waitFor('refusal', (m) => m.topic === `${ROOT}/cmd/plannedOutage/result` && m.payload.includes('"requestId":"soon"'), 5000);
  const result = JSON.parse(answer.payload) as { ok: boolean; error: string };
  t.equal(result.ok, false);
  t.match(result.error, /^planned outage PL-SOON starts in (1\.9|2) days \(.*\); customers must be told at least 7 days ahead, so it cannot start before /);
  t.same(recorder.messages.filter((m) => m.topic === `${ROOT}/notices`), [], 'no notice for a refused outage');
  t.same(recorder.violations, [], 'every payload validates against its schema');
});
