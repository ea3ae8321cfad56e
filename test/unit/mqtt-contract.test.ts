/**
 * The MQTT contract: hand-written payloads per schema (typed with the contract's TypeScript types, so types and
 * schemas are checked against the same examples), the rejections (a missing field, a wrong type, an unknown
 * field, a bad time or enum value), the topic mapping, and the connection options (persistent session).
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import type { DomainEvent } from '../../gateway/engine/events.js';
import {
  MQTT_SCHEMA_FILES,
  MQTT_TOPICS,
  contractMessage,
  publish,
  type MqttCommandContract,
  type MqttContract,
  type MqttTopicKind,
} from '../../gateway/publish/contract.js';
import { SESSION_EXPIRY_S, mqttClientOptions } from '../../gateway/publish/mqtt-publisher.js';
import { Topics } from '../../gateway/publish/topics.js';
import { classifyTopic, validatePayload } from '../helpers/contract-validator.js';

const SITE = 'demo-xixi';
const ROOT = `feederwatch/v1/${SITE}`;
const T0 = '2026-11-26T05:00:15.123Z';
const T1 = '2026-11-26T05:01:45.623Z';

type Json = Record<string, unknown>;

const outage: MqttContract['outage'] = {
  id: 'demo-xixi-20261126T050015123-F1-R1',
  siteId: SITE,
  state: 'active',
  kind: 'unplanned',
  cause: 'protectionTrip',
  confidence: 'measured',
  evidence: [
    { at: T0, kind: 'switchOpen', subject: 'F1-R1' },
    { at: T0, kind: 'faultFlag', subject: 'F1-LS1', detail: 'phase A' },
  ],
  parentId: null,
  mergedInto: null,
  plannedId: null,
  causeDevice: 'F1-R1',
  faultSection: 'F1-S3',
  startedAt: T0,
  restoredAt: null,
  durationMs: null,
  feederIds: ['F1'],
  sections: ['F1-S2', 'F1-S3'],
  transformers: ['T102', 'T103'],
  customers: ['C10201', 'C10301'],
  customerCount: 2,
  currentSections: ['F1-S2', 'F1-S3'],
  currentCustomerCount: 2,
  restorations: [],
  customerMinutes: null,
};

const restoredOutage: MqttContract['outage'] = {
  ...outage,
  state: 'restored',
  restoredAt: T1,
  durationMs: 90_500,
  currentSections: [],
  currentCustomerCount: 0,
  restorations: [{ at: T1, sections: ['F1-S2', 'F1-S3'], transformers: ['T102', 'T103'], customers: ['C10201', 'C10301'] }],
  customerMinutes: 3.0166666666666666,
};

const report: MqttContract['selfHealing'] = {
  id: 'demo-xixi-F1-20261126T050015123',
  siteId: SITE,
  feederId: 'F1',
  kind: 'voltageTime',
  state: 'completed',
  outcome: 'restored',
  faultSection: 'F1-S3',
  isolatingDevices: ['F1-LS1'],
  restoredUpstream: { sections: ['F1-S2'], customers: ['C10201'] },
  restoredByTransfer: [{ tie: 'T-F1-F2', fromFeeder: 'F2', sections: ['F1-S4'], customers: ['C10401'] }],
  stillOut: { sections: ['F1-S3'], customers: ['C10301'] },
  steps: [
    { at: T0, action: 'trip', device: 'F1-R1', energized: [], deenergized: ['F1-S2', 'F1-S3'], customersRestored: 0 },
    { at: T1, action: 'reclose', device: 'F1-R1', energized: ['F1-S2'], deenergized: [], customersRestored: 1 },
  ],
  startedAt: T0,
  completedAt: T1,
  durationMs: 90_500,
  outageIds: [outage.id],
};
const runningReport: MqttContract['selfHealing'] = { ...report, state: 'running', outcome: null, completedAt: null, durationMs: null };

const availability: MqttContract['deviceAvailability'] = {
  deviceId: 'meter-c10101',
  state: 'offline',
  previousState: 'online',
  ts: T1,
  lastGoodAt: T0,
  consecutiveErrors: 3,
  error: 'TIMEOUT: no answer within 500 ms',
};

const feederState: MqttContract['feederState'] = {
  feederId: 'F1',
  ts: T0,
  energizedSections: ['F1-S1'],
  deenergizedSections: ['F1-S2', 'F1-S3'],
  switches: { 'F1-CB': 'closed', 'F1-R1': 'open', 'F1-LS1': 'unknown' },
  customersOut: 2,
};

const envelope = { siteId: SITE, ts: T0 };
const events: DomainEvent[] = [
  { ...envelope, id: `${SITE}:1`, seq: 1, type: 'outage.started', outage },
  { ...envelope, id: `${SITE}:2`, seq: 2, type: 'outage.updated', outage },
  { ...envelope, id: `${SITE}:3`, seq: 3, type: 'outage.restored', outage: restoredOutage },
  { ...envelope, id: `${SITE}:4`, seq: 4, type: 'selfHealing.progress', report: runningReport },
  { ...envelope, id: `${SITE}:5`, seq: 5, type: 'selfHealing.completed', report },
  { ...envelope, id: `${SITE}:6`, seq: 6, type: 'device.availability', deviceId: 'meter-c10101', state: 'online', previousState: 'unknown', lastGoodAt: T0, consecutiveErrors: 0, error: null },
];

const birth: MqttContract['status'] = { online: true, siteId: SITE, version: '0.1.0', startedAt: T0, ts: T1 };
const will: MqttContract['status'] = { online: false, siteId: SITE };
const shutdown: MqttContract['status'] = { online: false, siteId: SITE, ts: T1, reason: 'shutdown' };

const accepted: MqttContract['commandResult'] = {
  command: 'plannedOutage',
  ok: true,
  requestId: 'r1',
  registered: { id: 'PL-2026-07', devices: ['F2-SW1'], start: '2026-12-01T08:00:00+08:00', end: '2026-12-01T12:00:00+08:00', reason: 'cable joint' },
};
const refused: MqttContract['commandResult'] = { command: 'plannedOutage', ok: false, requestId: null, error: 'not authorized: missing or wrong token' };

const request: MqttCommandContract['plannedOutage'] = {
  token: 'secret-token',
  requestId: 'r1',
  id: 'PL-2026-07',
  devices: ['F2-SW1'],
  start: '2026-12-01T00:00:00Z',
  end: '2026-12-01T04:00:00.000Z',
};

const notice: MqttContract['notice'] = {
  noticeId: `${outage.id}:fault`,
  messageId: `${outage.id}:fault:1of1`,
  type: 'fault',
  siteId: SITE,
  outageId: outage.id,
  plannedId: null,
  area: { feeders: [{ id: 'F1', name: 'Xixi 1' }], transformers: ['T102', 'T103'], areaClasses: ['urban'] },
  cause: { code: 'protectionTrip', text: 'protection tripped' },
  start: T0,
  estimatedRestoration: '2026-11-26T07:00:15.123Z',
  actualRestoration: null,
  progress: null,
  partial: null,
  customerCount: 2,
  batchIndex: 0,
  batchCount: 1,
  customerIds: ['C10201', 'C10301'],
  issuedAt: T1,
};

/** Valid examples: topic, payload, and the fields that may be left out. */
const valid: Array<{ name: string; topic: string; payload: Json; optional?: string[] }> = [
  { name: 'status birth', topic: `${ROOT}/status`, payload: { ...birth } },
  { name: 'status will', topic: `${ROOT}/status`, payload: { ...will } },
  { name: 'status shutdown', topic: `${ROOT}/status`, payload: { ...shutdown } },
  ...events.map((e) => ({ name: `event ${e.type}`, topic: `${ROOT}/events`, payload: { ...e } })),
  { name: 'outage active', topic: `${ROOT}/outages/${outage.id}`, payload: { ...outage } },
  { name: 'outage restored', topic: `${ROOT}/outages/${outage.id}`, payload: { ...restoredOutage } },
  { name: 'outage merged', topic: `${ROOT}/outages/${outage.id}`, payload: { ...outage, state: 'merged', mergedInto: 'demo-xixi-20261126T050015000-F1-CB', parentId: null } },
  { name: 'feeder state', topic: `${ROOT}/feeders/F1/state`, payload: { ...feederState } },
  { name: 'self-healing completed', topic: `${ROOT}/feeders/F1/selfHealing`, payload: { ...report } },
  { name: 'self-healing running', topic: `${ROOT}/feeders/F1/selfHealing`, payload: { ...runningReport } },
  { name: 'device availability', topic: `${ROOT}/devices/meter-c10101/availability`, payload: { ...availability } },
  { name: 'command accepted', topic: `${ROOT}/cmd/plannedOutage/result`, payload: { ...accepted } },
  { name: 'command refused', topic: `${ROOT}/cmd/plannedOutage/result`, payload: { ...refused } },
  { name: 'unknown command refused', topic: `${ROOT}/cmd/reboot/result`, payload: { command: 'reboot', ok: false, requestId: 'x', error: 'unknown command "reboot" (known: plannedOutage)' } },
  { name: 'plannedOutage request', topic: `${ROOT}/cmd/plannedOutage`, payload: { ...request }, optional: ['requestId'] },
  { name: 'notice', topic: `${ROOT}/notices`, payload: { ...notice } },
  ...events.map((e) => ({ name: `historical event ${e.type}`, topic: `${ROOT}/events`, payload: { ...e, historical: true }, optional: ['historical'] })),
  { name: 'historical notice', topic: `${ROOT}/notices`, payload: { ...notice, historical: true }, optional: ['historical'] },
];

t.test('every hand-written valid payload validates', async (t) => {
  for (const example of valid) t.same(validatePayload(example.topic, JSON.stringify(example.payload)), [], example.name);
});

t.test('a required field left out is rejected, for every field of every payload', async (t) => {
  for (const example of valid) {
    for (const field of Object.keys(example.payload)) {
      const { [field]: _left, ...rest } = example.payload;
      const errors = validatePayload(example.topic, JSON.stringify(rest));
      if (example.optional?.includes(field)) t.same(errors, [], `${example.name}: ${field} is optional`);
      else if (errors.length === 0) t.fail(`${example.name}: leaving out ${field} must be rejected`);
    }
  }
  t.pass('checked');
});

t.test('optional fields: evidence detail and planned outage reason', async (t) => {
  const { detail: _d, ...evidence } = { ...outage.evidence[1], detail: 'x' };
  t.same(validatePayload(`${ROOT}/outages/${outage.id}`, JSON.stringify({ ...outage, evidence: [evidence] })), []);
  if (accepted.ok && accepted.registered !== undefined) {
    const { reason: _r, ...registered } = accepted.registered;
    t.same(validatePayload(`${ROOT}/cmd/plannedOutage/result`, JSON.stringify({ ...accepted, registered })), []);
  }
});

t.test('an unknown field is rejected where the type is closed', async (t) => {
  for (const example of valid) {
    t.not(validatePayload(example.topic, JSON.stringify({ ...example.payload, surprise: 1 })), [], example.name);
  }
  const nested: Array<[string, string, Json]> = [
    ['outage evidence', `${ROOT}/outages/${outage.id}`, { ...outage, evidence: [{ at: T0, kind: 'switchOpen', subject: 'F1-R1', extra: true }] }],
    ['outage restoration step', `${ROOT}/outages/${outage.id}`, { ...restoredOutage, restorations: [{ ...restoredOutage.restorations[0], extra: 1 }] }],
    ['self-healing step', `${ROOT}/feeders/F1/selfHealing`, { ...report, steps: [{ ...report.steps[0], extra: 1 }] }],
    ['self-healing scope', `${ROOT}/feeders/F1/selfHealing`, { ...report, stillOut: { ...report.stillOut, transformers: [] } }],
    ['event outage', `${ROOT}/events`, { ...events[0], outage: { ...outage, extra: 1 } }],
    ['event report', `${ROOT}/events`, { ...events[4], report: { ...report, extra: 1 } }],
    ['an outage event carrying a report', `${ROOT}/events`, { ...events[0], report }],
  ];
  for (const [name, topic, payload] of nested) t.not(validatePayload(topic, JSON.stringify(payload)), [], name);
});

t.test('wrong types, enum values and times are rejected', async (t) => {
  const o = `${ROOT}/outages/${outage.id}`;
  const invalid: Array<[string, string, Json]> = [
    ['status online as a string', `${ROOT}/status`, { ...birth, online: 'true' }],
    ['birth without version', `${ROOT}/status`, { online: true, siteId: SITE, startedAt: T0, ts: T1 }],
    ['shutdown with another reason', `${ROOT}/status`, { ...shutdown, reason: 'crash' }],
    ['event seq as a string', `${ROOT}/events`, { ...events[0], seq: '1' }],
    ['event seq 0', `${ROOT}/events`, { ...events[0], seq: 0, id: `${SITE}:0` }],
    ['event seq fractional', `${ROOT}/events`, { ...events[0], seq: 1.5 }],
    ['event id without seq', `${ROOT}/events`, { ...events[0], id: SITE }],
    ['unknown event type', `${ROOT}/events`, { ...events[0], type: 'outage.deleted' }],
    ['event ts without milliseconds', `${ROOT}/events`, { ...events[0], ts: '2026-11-26T05:00:15Z' }],
    ['event ts in local time', `${ROOT}/events`, { ...events[0], ts: '2026-11-26T13:00:15.123+08:00' }],
    ['availability event with a bad state', `${ROOT}/events`, { ...events[5], state: 'up' }],
    ['outage state unknown', o, { ...outage, state: 'closed' }],
    ['outage kind unknown', o, { ...outage, kind: 'forced' }],
    ['outage cause unknown', o, { ...outage, cause: 'lightning' }],
    ['outage confidence unknown', o, { ...outage, confidence: 'guessed' }],
    ['evidence kind unknown', o, { ...outage, evidence: [{ at: T0, kind: 'rumour', subject: 'F1-R1' }] }],
    ['customerCount as a string', o, { ...outage, customerCount: '2' }],
    ['customerCount negative', o, { ...outage, customerCount: -1 }],
    ['durationMs fractional', o, { ...restoredOutage, durationMs: 1.5 }],
    ['customers not a list', o, { ...outage, customers: 'C10201' }],
    ['customer id with a slash', o, { ...outage, customers: ['C1/02'] }],
    ['startedAt null', o, { ...outage, startedAt: null }],
    ['restoredAt not a time', o, { ...restoredOutage, restoredAt: 'yesterday' }],
    ['parentId a number', o, { ...outage, parentId: 7 }],
    ['customerMinutes a string', o, { ...restoredOutage, customerMinutes: '3' }],
    ['switch position unknown', `${ROOT}/feeders/F1/state`, { ...feederState, switches: { 'F1-R1': 'tripped' } }],
    ['customersOut a string', `${ROOT}/feeders/F1/state`, { ...feederState, customersOut: '2' }],
    ['self-healing kind unknown', `${ROOT}/feeders/F1/selfHealing`, { ...report, kind: 'magic' }],
    ['self-healing outcome unknown', `${ROOT}/feeders/F1/selfHealing`, { ...report, outcome: 'done' }],
    ['self-healing step action unknown', `${ROOT}/feeders/F1/selfHealing`, { ...report, steps: [{ ...report.steps[0], action: 'jump' }] }],
    ['availability state unknown', `${ROOT}/devices/meter-c10101/availability`, { ...availability, state: 'unknown' }],
    ['availability error a number', `${ROOT}/devices/meter-c10101/availability`, { ...availability, error: 3 }],
    ['command result ok without registered', `${ROOT}/cmd/plannedOutage/result`, { command: 'plannedOutage', ok: true, requestId: null }],
    ['command refused without error', `${ROOT}/cmd/plannedOutage/result`, { command: 'plannedOutage', ok: false, requestId: null }],
    ['command ok as a string', `${ROOT}/cmd/plannedOutage/result`, { ...refused, ok: 'false' }],
    ['request without devices', `${ROOT}/cmd/plannedOutage`, { ...request, devices: [] }],
    ['request start without zone', `${ROOT}/cmd/plannedOutage`, { ...request, start: '2026-12-01T00:00:00' }],
    ['request for an unknown command', `${ROOT}/cmd/reboot`, { token: 'x' }],
  ];
  for (const [name, topic, payload] of invalid) t.not(validatePayload(topic, JSON.stringify(payload)), [], name);
});

t.test('historical: true on late events and notices; absent on live ones; any other value rejected', async (t) => {
  // Typed: the contract's payload types of events and notices accept the flag.
  const lateEvents: Array<MqttContract['events']> = events.map((e) => ({ ...e, historical: true }));
  const lateNotice: MqttContract['notice'] = { ...notice, historical: true };
  for (const e of lateEvents) t.same(validatePayload(`${ROOT}/events`, JSON.stringify(e)), [], `historical ${e.type}`);
  t.same(validatePayload(`${ROOT}/notices`, JSON.stringify(lateNotice)), [], 'historical notice');
  t.same(validatePayload(`${ROOT}/notices`, JSON.stringify(notice)), [], 'live notice (no flag)');
  for (const e of events) {
    for (const value of [false, 'true', 1, null]) {
      t.match(validatePayload(`${ROOT}/events`, JSON.stringify({ ...e, historical: value })), [/\/historical must be equal to constant/], `${e.type}: historical ${JSON.stringify(value)} rejected`);
    }
  }
  for (const value of [false, 'true', 1, null]) {
    t.match(validatePayload(`${ROOT}/notices`, JSON.stringify({ ...notice, historical: value })), [/\/historical must be equal to constant/], `notice: historical ${JSON.stringify(value)} rejected`);
  }
  // Only events and notices are replayed: the other payloads do not take the flag.
  t.match(validatePayload(`${ROOT}/outages/${outage.id}`, JSON.stringify({ ...outage, historical: true })), [/must NOT have additional properties "historical"/]);
  t.match(validatePayload(`${ROOT}/feeders/F1/state`, JSON.stringify({ ...feederState, historical: true })), [/must NOT have additional properties "historical"/]);
  t.match(validatePayload(`${ROOT}/events`, JSON.stringify({ ...events[0], outage: { ...outage, historical: true } })), [/additional properties "historical"/], 'the flag is on the event, not on its outage');
  const topics = new Topics(SITE);
  t.same(
    { topic: contractMessage(topics, 'events', lateEvents[0]!).topic, retain: contractMessage(topics, 'events', lateEvents[0]!).retain },
    { topic: `${ROOT}/events`, retain: false },
    'a historical event goes on the events topic, not retained',
  );
  t.same(
    { topic: contractMessage(topics, 'notice', lateNotice).topic, retain: contractMessage(topics, 'notice', lateNotice).retain },
    { topic: `${ROOT}/notices`, retain: false },
    'a historical notice goes on the notices topic, not retained',
  );
});

t.test('empty payloads, non-JSON, topics outside the contract, topic and payload disagreeing', async (t) => {
  t.same(validatePayload(`${ROOT}/outages/${outage.id}`, ''), [], 'an empty retained message clears an outage topic');
  for (const topic of [`${ROOT}/status`, `${ROOT}/events`, `${ROOT}/feeders/F1/state`, `${ROOT}/feeders/F1/selfHealing`, `${ROOT}/devices/d1/availability`, `${ROOT}/cmd/plannedOutage/result`, `${ROOT}/reliability`, `${ROOT}/notices`]) {
    t.match(validatePayload(topic, ''), [/empty payload/], `empty payload rejected on ${topic}`);
  }
  t.match(validatePayload(`${ROOT}/events`, '{"id":'), [/not JSON/]);
  t.match(validatePayload(`${ROOT}/reliability/site`, '{}'), [/not a topic of the MQTT contract/]);
  t.same(classifyTopic(`${ROOT}/reliability`), { siteId: SITE, direction: 'published', kind: 'reliability' });
  t.match(validatePayload(`${ROOT}/reliability`, '{}'), [/required property 'siteId'/], 'reliability is a contract topic: its schema applies');
  t.match(validatePayload(`${ROOT}/feeders/F1/voltage`, '{}'), [/not a topic of the MQTT contract/]);
  t.match(validatePayload('elsewhere/status', '{}'), [/not a topic of the MQTT contract/]);
  t.match(validatePayload(`${ROOT}/outages/another-id`, JSON.stringify(outage)), [/belongs on .*outages\/demo-xixi-20261126T050015123-F1-R1/]);
  t.match(validatePayload(`${ROOT}/feeders/F2/state`, JSON.stringify(feederState)), [/belongs on .*feeders\/F1\/state/]);
  t.match(validatePayload(`${ROOT}/feeders/F2/selfHealing`, JSON.stringify(report)), [/belongs on/]);
  t.match(validatePayload(`${ROOT}/devices/d9/availability`, JSON.stringify(availability)), [/belongs on/]);
  t.match(validatePayload(`${ROOT}/cmd/other/result`, JSON.stringify(refused)), [/belongs on .*cmd\/plannedOutage\/result/]);
  t.match(validatePayload('feederwatch/v1/other-site/status', JSON.stringify(birth)), [/not the topic's site/]);
  t.same(classifyTopic(`${ROOT}/cmd/plannedOutage`), { siteId: SITE, direction: 'received', command: 'plannedOutage' });
  t.same(classifyTopic(`${ROOT}/cmd/plannedOutage/result`), { siteId: SITE, direction: 'published', kind: 'commandResult' });
});

t.test('the type map gives each payload its topic, retain flag and QoS 1', async (t) => {
  const topics = new Topics(SITE);
  const cases: Array<[string, ReturnType<typeof contractMessage>, string, boolean]> = [
    ['status', contractMessage(topics, 'status', birth), `${ROOT}/status`, true],
    ['events', contractMessage(topics, 'events', events[0] as DomainEvent), `${ROOT}/events`, false],
    ['active outage', contractMessage(topics, 'outage', outage), `${ROOT}/outages/${outage.id}`, true],
    ['restored outage', contractMessage(topics, 'outage', restoredOutage), `${ROOT}/outages/${outage.id}`, false],
    ['merged outage', contractMessage(topics, 'outage', { ...outage, state: 'merged' }), `${ROOT}/outages/${outage.id}`, false],
    ['feeder state', contractMessage(topics, 'feederState', feederState), `${ROOT}/feeders/F1/state`, true],
    ['self-healing', contractMessage(topics, 'selfHealing', report), `${ROOT}/feeders/F1/selfHealing`, true],
    ['availability', contractMessage(topics, 'deviceAvailability', availability), `${ROOT}/devices/meter-c10101/availability`, true],
    ['command result', contractMessage(topics, 'commandResult', refused), `${ROOT}/cmd/plannedOutage/result`, false],
    ['notice', contractMessage(topics, 'notice', notice), `${ROOT}/notices`, false],
  ];
  for (const [name, message, topic, retain] of cases) {
    t.same({ topic: message.topic, retain: message.retain, qos: message.qos }, { topic, retain, qos: 1 }, name);
    t.same(validatePayload(message.topic, message.body), [], `${name} validates`);
  }
  const sent: Array<{ topic: string; body: string; retain: boolean; qos: number }> = [];
  publish({ publish: (topic, body, opts) => sent.push({ topic, body, ...opts }) }, new Topics(SITE, 'site/custom'), 'feederState', feederState);
  t.same(sent, [{ topic: 'site/custom/feeders/F1/state', body: JSON.stringify(feederState), retain: true, qos: 1 }], 'publish uses mqtt.baseTopic');
});

t.test('schema files: one per topic kind, shipped under config/, each with its file name as $id', async (t) => {
  const dir = new URL('../../config/schemas/mqtt/', import.meta.url);
  const files = readdirSync(dir).filter((f) => f.endsWith('.schema.json')).sort();
  t.same(files, [...new Set(MQTT_SCHEMA_FILES)].sort(), 'no schema file without a role, none missing');
  const kinds = Object.keys(MQTT_TOPICS) as MqttTopicKind[];
  t.equal(kinds.length, 9, 'status, events, outage, feederState, selfHealing, deviceAvailability, commandResult, notice, reliability');
  t.same([...kinds].sort(), ['commandResult', 'deviceAvailability', 'events', 'feederState', 'notice', 'outage', 'reliability', 'selfHealing', 'status']);
  t.equal(MQTT_TOPICS.reliability.schema, 'reliability.schema.json');
  const docs = readFileSync(new URL('../../docs/mqtt.md', import.meta.url), 'utf8');
  for (const file of files) {
    const schema = JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as { $id?: string; $schema?: string };
    t.equal(schema.$id, file, `${file}: $id`);
    t.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#', `${file}: draft-07`);
    t.match(docs, file, `docs/mqtt.md names ${file}`);
  }
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { files: string[] };
  t.ok(pkg.files.includes('config'), 'config/ (with the schemas) is in the package');
});

t.test('connection: fixed client id, persistent session, MQTT 5 session expiry, Last Will', async (t) => {
  const topics = new Topics(SITE);
  const v4 = mqttClientOptions({ url: 'mqtt://127.0.0.1:1883', protocolVersion: 4 }, SITE, topics);
  t.equal(v4.clientId, `feederwatch-${SITE}`, 'default client id is fixed per site');
  t.equal(v4.clean, false, 'MQTT 3.1.1: clean session off');
  t.equal(v4.protocolVersion, 4);
  t.equal(v4.properties, undefined, 'no MQTT 5 properties on 3.1.1');
  t.equal(v4.will?.topic, `${ROOT}/status`);
  t.equal(v4.will?.retain, true);
  t.same(validatePayload(`${ROOT}/status`, String(v4.will?.payload)), [], 'the Last Will validates');
  const v5 = mqttClientOptions({ url: 'mqtt://127.0.0.1:1883', clientId: 'fw-fixed', protocolVersion: 5 }, SITE, topics);
  t.equal(v5.clientId, 'fw-fixed', 'configured client id kept');
  t.equal(v5.clean, false, 'MQTT 5: clean start off');
  t.same(v5.properties, { sessionExpiryInterval: SESSION_EXPIRY_S }, 'MQTT 5: the session outlives a disconnection');
});
