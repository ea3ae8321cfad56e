/**
 * Checks MQTT messages against the contract's JSON Schemas (config/schemas/mqtt/, draft-07): maps a topic under
 * `feederwatch/v1/<siteId>/...` to its schema, validates the payload, and checks that the topic agrees with the
 * payload (the outage id, feeder id, device id or command name in the topic; the site id of the root).
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { MQTT_COMMANDS, MQTT_SCHEMA_FILES, MQTT_TOPICS, type MqttCommandContract, type MqttContract, type MqttTopicKind } from '../../gateway/publish/contract.js';
import { Topics } from '../../gateway/publish/topics.js';

const SCHEMA_DIR = new URL('../../config/schemas/mqtt/', import.meta.url);

let ajv: Ajv | undefined;

function validator(schemaFile: string): ValidateFunction {
  if (ajv === undefined) {
    ajv = new Ajv({ strict: true, allErrors: true, allowUnionTypes: true });
    for (const file of MQTT_SCHEMA_FILES) {
      ajv.addSchema(JSON.parse(readFileSync(new URL(file, SCHEMA_DIR), 'utf8')) as object, file);
    }
  }
  const validate = ajv.getSchema(schemaFile);
  if (validate === undefined) throw new Error(`no schema ${schemaFile}`);
  return validate;
}

/** What a topic is, under the contract; undefined when it is not one of the contract's topics. */
export type ClassifiedTopic =
  | { siteId: string; direction: 'published'; kind: MqttTopicKind }
  | { siteId: string; direction: 'received'; command: string };

const ROOT = /^feederwatch\/v1\/([^/+#]+)\/(.+)$/;

export function classifyTopic(topic: string): ClassifiedTopic | undefined {
  const match = ROOT.exec(topic);
  if (match === null) return undefined;
  const siteId = match[1] ?? '';
  const levels = (match[2] ?? '').split('/');
  const published = (kind: MqttTopicKind): ClassifiedTopic => ({ siteId, direction: 'published', kind });
  const [first, second, third, ...rest] = levels;
  if (rest.length > 0 || levels.some((l) => l === '')) return undefined;
  if (levels.length === 1 && first === 'status') return published('status');
  if (levels.length === 1 && first === 'events') return published('events');
  if (levels.length === 1 && first === 'notices') return published('notice');
  if (levels.length === 1 && first === 'reliability') return published('reliability');
  if (levels.length === 2 && first === 'outages') return published('outage');
  if (levels.length === 3 && first === 'feeders' && third === 'state') return published('feederState');
  if (levels.length === 3 && first === 'feeders' && third === 'selfHealing') return published('selfHealing');
  if (levels.length === 3 && first === 'devices' && third === 'availability') return published('deviceAvailability');
  if (levels.length === 3 && first === 'cmd' && third === 'result') return published('commandResult');
  if (levels.length === 2 && first === 'cmd' && second !== undefined) return { siteId, direction: 'received', command: second };
  return undefined;
}

function formatErrors(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => {
    const where = e.instancePath === '' ? '(root)' : e.instancePath;
    const params = e.keyword === 'additionalProperties' ? ` "${String(e.params.additionalProperty)}"` : e.keyword === 'const' || e.keyword === 'enum' ? ` ${JSON.stringify(e.params)}` : '';
    return `${where} ${e.message ?? e.keyword}${params}`;
  });
}

function isCommandName(name: string): name is keyof MqttCommandContract {
  return Object.hasOwn(MQTT_COMMANDS, name);
}

/**
 * The contract violations of one message: an empty list when the payload validates against the schema of its
 * topic. Empty payloads (retained clears) are valid on outage topics only. A topic under `feederwatch/v1/`
 * that is not in the contract is a violation itself.
 */
export function validatePayload(topic: string, payload: string): string[] {
  const classified = classifyTopic(topic);
  if (classified === undefined) return [`${topic}: not a topic of the MQTT contract`];
  const at = (errors: string[]): string[] => errors.map((e) => `${topic}: ${e}`);

  if (payload === '') return classified.direction === 'published' && classified.kind === 'outage' ? [] : at(['empty payload (only outage topics are cleared with an empty retained message)']);
  let body: unknown;
  try {
    body = JSON.parse(payload);
  } catch {
    return at(['payload is not JSON']);
  }

  if (classified.direction === 'received') {
    if (!isCommandName(classified.command)) return at([`unknown command "${classified.command}"`]);
    const validate = validator(MQTT_COMMANDS[classified.command].schema);
    return validate(body) ? [] : at(formatErrors(validate.errors));
  }

  const spec = MQTT_TOPICS[classified.kind];
  const validate = validator(spec.schema);
  if (!validate(body)) return at(formatErrors(validate.errors));
  // Valid against the schema: the topic must be the one the publisher derives from the payload.
  const problems: string[] = [];
  const expected = expectedTopic(classified.kind, classified.siteId, body);
  if (expected !== topic) problems.push(`payload belongs on ${expected}`);
  const payloadSite = (body as { siteId?: unknown }).siteId;
  if (payloadSite !== undefined && payloadSite !== classified.siteId) problems.push(`/siteId ${JSON.stringify(payloadSite)} is not the topic's site "${classified.siteId}"`);
  return at(problems);
}

function expectedTopic<K extends MqttTopicKind>(kind: K, siteId: string, validated: unknown): string {
  return MQTT_TOPICS[kind].topic(new Topics(siteId), validated as MqttContract[K]);
}
