/**
 * A test subscriber that records every message and lets a test await one matching a predicate. With
 * `{ validate: true }` it also checks every message the gateway publishes against the MQTT contract's schemas
 * (test/helpers/contract-validator.ts) and records the problems in `violations`; commands sent to the gateway
 * (`<root>/cmd/<name>`, possibly invalid on purpose) are not checked.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { classifyTopic, validatePayload } from './contract-validator.js';

export interface RecordedMessage {
  topic: string;
  payload: string;
  retain: boolean;
  at: number;
}

export interface MqttRecorderOptions {
  /** Check every message the gateway publishes against the contract's schemas (see `violations`). */
  validate?: boolean;
  /**
   * A persistent session with this client id (`clean: false`): with a persistent broker the subscription and
   * the messages queued for it survive a broker restart, as for a durable downstream consumer.
   */
  persistentClientId?: string;
}

export class MqttRecorder {
  readonly messages: RecordedMessage[] = [];
  /** Contract violations, `<topic>: <problem>`, when connected with `validate: true`. */
  readonly violations: string[] = [];
  private waiters: Array<{ match: (m: RecordedMessage) => boolean; resolve: (m: RecordedMessage) => void }> = [];

  private constructor(
    private readonly client: MqttClient,
    validate: boolean,
  ) {
    client.on('message', (topic, payload, packet) => {
      const message = { topic, payload: payload.toString(), retain: packet.retain, at: Date.now() };
      this.messages.push(message);
      if (validate && classifyTopic(topic)?.direction !== 'received') this.violations.push(...validatePayload(topic, message.payload));
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(message)) return true;
        w.resolve(message);
        return false;
      });
    });
  }

  static async connect(url: string, topic: string, options: MqttRecorderOptions = {}): Promise<MqttRecorder> {
    const client = await mqtt.connectAsync(
      url,
      options.persistentClientId !== undefined
        ? { clientId: options.persistentClientId, clean: false, reconnectPeriod: 200 }
        : { clientId: `test-recorder-${Math.random().toString(16).slice(2)}` },
    );
    const recorder = new MqttRecorder(client, options.validate === true);
    await client.subscribeAsync(topic, { qos: 1 });
    return recorder;
  }

  /** Resolves with the first message, already received or still to come, that matches; rejects after timeoutMs. */
  waitFor(what: string, match: (m: RecordedMessage) => boolean, timeoutMs: number, since = 0): Promise<RecordedMessage> {
    const seen = this.messages.find((m) => m.at >= since && match(m));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no MQTT message "${what}" within ${timeoutMs} ms; got topics: ${[...new Set(this.messages.map((m) => m.topic))].join(', ')}`)), timeoutMs);
      this.waiters.push({
        match: (m) => m.at >= since && match(m),
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}
