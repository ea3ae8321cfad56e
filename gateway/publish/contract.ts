/**
 * The MQTT contract as one type map: each topic kind the gateway publishes, with its payload type, its topic
 * (derived from the payload, so topic and payload cannot disagree), its retain flag and its JSON Schema
 * (config/schemas/mqtt/, shipped in the package). docs/mqtt.md describes the same contract in words; the
 * contract tests (test/unit/mqtt-contract.test.ts and the end-to-end tests with a validating recorder) check
 * that what is published matches the schemas.
 *
 * Adding a topic: a payload type here, an entry in `MQTT_TOPICS`, a schema file, a section in docs/mqtt.md.
 */
import type { Notice } from '../notices/notice-types.js';
import type { PlannedOutageConfig } from '../config/site-config.js';
import type { DomainEvent, FeederState, Outage, SelfHealingReport, DeviceAvailabilityEvent } from '../engine/events.js';
import type { CommandResult } from '../runtime/commands.js';
import type { ReliabilityReport } from '../reliability/report.js';
import type { Topics } from './topics.js';

export type { CommandResult } from '../runtime/commands.js';

/** Retained birth, sent on every (re)connect. */
export interface StatusBirth {
  online: true;
  siteId: string;
  /** feederwatch version (package.json). */
  version: string;
  /** When the gateway process started. */
  startedAt: string;
  /** When this message was sent. */
  ts: string;
}
/** The Last Will, registered at connect; the broker publishes it (retained) when the connection is lost. */
export interface StatusWill {
  online: false;
  siteId: string;
}
/** Published (retained) by the gateway itself on a clean stop. */
export interface StatusShutdown {
  online: false;
  siteId: string;
  ts: string;
  reason: 'shutdown';
}
export type StatusPayload = StatusBirth | StatusWill | StatusShutdown;

/** `devices/<deviceId>/availability`: the `device.availability` event without its envelope. */
export type DeviceAvailabilityPayload = Pick<DeviceAvailabilityEvent, 'deviceId' | 'state' | 'previousState' | 'ts' | 'lastGoodAt' | 'consecutiveErrors' | 'error'>;

/** What a sender publishes on `<root>/cmd/plannedOutage` (checked by gateway/runtime/commands.ts). */
export interface PlannedOutageCommand extends PlannedOutageConfig {
  token: string;
  requestId?: string;
}

/**
 * Added to an event or notice delivered late (kept in the outbox while the broker was unreachable or across
 * a restart, docs/outbox.md). Absent on live messages.
 */
export interface Historical {
  historical?: true;
}

/** Topic kind -> payload type of everything the gateway publishes. */
export interface MqttContract {
  status: StatusPayload;
  events: DomainEvent & Historical;
  outage: Outage;
  feederState: FeederState;
  selfHealing: SelfHealingReport;
  deviceAvailability: DeviceAvailabilityPayload;
  commandResult: CommandResult;
  notice: Notice & Historical;
  reliability: ReliabilityReport;
}
export type MqttTopicKind = keyof MqttContract;

/** Commands the gateway receives: command name -> request payload. */
export interface MqttCommandContract {
  plannedOutage: PlannedOutageCommand;
}

export interface TopicSpec<P> {
  /** Schema file name under config/schemas/mqtt/. */
  schema: string;
  topic(topics: Topics, payload: P): string;
  retain(payload: P): boolean;
}

/** Every topic the gateway publishes, all at QoS 1. */
export const MQTT_TOPICS: { readonly [K in MqttTopicKind]: TopicSpec<MqttContract[K]> } = {
  status: { schema: 'status.schema.json', topic: (t) => t.status(), retain: () => true },
  events: { schema: 'events.schema.json', topic: (t) => t.events(), retain: () => false },
  // Retained while active; the final restored or merged message is not (the topic is then cleared).
  outage: { schema: 'outage.schema.json', topic: (t, o) => t.outage(o.id), retain: (o) => o.state === 'active' },
  feederState: { schema: 'feeder-state.schema.json', topic: (t, s) => t.feederState(s.feederId), retain: () => true },
  selfHealing: { schema: 'self-healing.schema.json', topic: (t, r) => t.selfHealing(r.feederId), retain: () => true },
  deviceAvailability: { schema: 'device-availability.schema.json', topic: (t, a) => t.deviceAvailability(a.deviceId), retain: () => true },
  commandResult: { schema: 'command-result.schema.json', topic: (t, r) => commandResultTopic(t, r.command), retain: () => false },
  // One message per batch of customers of one notice (docs/notices.md); not retained: a notice is an event.
  notice: { schema: 'notice.schema.json', topic: (t) => t.notices(), retain: () => false },
  // The latest indices, retained: republished hourly, after every interruption and on every reconnection.
  reliability: { schema: 'reliability.schema.json', topic: (t) => t.reliability(), retain: () => true },
};

/** Schemas of the commands the gateway receives. */
export const MQTT_COMMANDS: { readonly [K in keyof MqttCommandContract]: { schema: string } } = {
  plannedOutage: { schema: 'command-planned-outage.schema.json' },
};

/** Every schema file of the contract, including the shared definitions. */
export const MQTT_SCHEMA_FILES: readonly string[] = [
  'common.schema.json',
  ...Object.values(MQTT_TOPICS).map((s) => s.schema),
  ...Object.values(MQTT_COMMANDS).map((s) => s.schema),
];

export const MQTT_QOS = 1 as const;

export function commandTopic(topics: Topics, name: string): string {
  return `${topics.root}/cmd/${name}`;
}
export function commandResultTopic(topics: Topics, name: string): string {
  return `${commandTopic(topics, name)}/result`;
}

/** One message ready for the wire. */
export interface ContractMessage {
  topic: string;
  body: string;
  qos: typeof MQTT_QOS;
  retain: boolean;
}

/** Topic, JSON body and flags of a payload of the given kind. */
export function contractMessage<K extends MqttTopicKind>(topics: Topics, kind: K, payload: MqttContract[K]): ContractMessage {
  const spec: TopicSpec<MqttContract[K]> = MQTT_TOPICS[kind];
  return { topic: spec.topic(topics, payload), body: JSON.stringify(payload), qos: MQTT_QOS, retain: spec.retain(payload) };
}

/** The empty retained message that clears an outage's topic (the only non-JSON payload of the contract). */
export function outageClearMessage(topics: Topics, outageId: string): ContractMessage {
  return { topic: topics.outage(outageId), body: '', qos: MQTT_QOS, retain: true };
}

/** The part of an MQTT client `publish` needs (mqtt.js's MqttClient fits). */
export interface MqttSink {
  publish(topic: string, message: string, opts: { qos: typeof MQTT_QOS; retain: boolean }, callback?: (err?: Error) => void): unknown;
}

/** Publishes a payload of the given kind on its topic, with its retain flag, at QoS 1. */
export function publish<K extends MqttTopicKind>(
  sink: MqttSink,
  topics: Topics,
  kind: K,
  payload: MqttContract[K],
  callback?: (err?: Error) => void,
): ContractMessage {
  const message = contractMessage(topics, kind, payload);
  sink.publish(message.topic, message.body, { qos: message.qos, retain: message.retain }, callback);
  return message;
}
