/**
 * Publishes domain events and state on MQTT (mqtt.js) under `feederwatch/v1/<siteId>` (docs/mqtt.md):
 * - `status`: retained birth `{"online":true}` on every (re)connect; Last Will `{"online":false}` retained;
 * - `events`: every domain event, QoS 1, in sequence order;
 * - `outages/<id>`: retained while active; on restoration a final `state: "restored"` message (not
 *   retained) and then an empty retained message that clears the topic;
 * - `feeders/<id>/state`: retained energization snapshot, published when it changes;
 * - `devices/<id>/availability`: retained.
 * While the broker is down mqtt.js queues messages in memory and sends them in order on reconnect.
 *
 * Restarts: `onEventDelivered` reports each event the broker acknowledged (the gateway records it in its
 * state store). With `isActiveOutage`, every connect looks at the retained `outages/+` topics once and clears
 * those the engine does not know as active: left behind by an earlier run that could not close them (a lost or
 * set-aside state file, or a gateway run without persistence). Restored active outages keep theirs untouched.
 */
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { MqttConfig } from '../config/site-config.js';
import type { DomainEvent, FeederState } from '../engine/events.js';
import type { Logger } from '../log.js';
import type { Reading } from '../../drivers/reading.js';
import type { Publisher } from './publisher.js';
import { Topics } from './topics.js';

export interface MqttPublisherOptions {
  siteId: string;
  logger: Logger;
  version: string;
  /** Called when the broker acknowledged (QoS 1 PUBACK) the event with this `seq` on the events topic. */
  onEventDelivered?: (seq: number) => void;
  /** Whether an outage id is active in the engine; enables clearing stale retained outages on connect. */
  isActiveOutage?: (outageId: string) => boolean;
  /**
   * Handles a command received on `<root>/cmd/<name>`; its result is published on `<root>/cmd/<name>/result`.
   * Without it the gateway does not subscribe to commands.
   */
  onCommand?: (name: string, payload: Buffer) => unknown;
}

/** How long after subscribing retained outage topics are looked at for stale ones. */
const STALE_SWEEP_MS = 2000;

export class MqttPublisher implements Publisher {
  readonly name = 'mqtt';
  readonly topics: Topics;
  private client: MqttClient | undefined;
  private readonly log: Logger;
  private readonly lastFeederState = new Map<string, string>();
  private readonly startedAt = new Date().toISOString();
  private published = 0;

  constructor(
    private readonly config: MqttConfig,
    private readonly opts: MqttPublisherOptions,
  ) {
    this.topics = new Topics(opts.siteId, config.baseTopic);
    this.log = opts.logger.child({ module: 'mqtt' });
  }

  /** The broker URL without credentials, for logs. */
  private get safeUrl(): string {
    return withoutCredentials(this.config.url);
  }

  /** Starts connecting; resolves at once: a broker that is down must not stop the gateway from starting. */
  async start(): Promise<void> {
    const client = mqtt.connect(this.config.url, this.clientOptions());
    this.client = client;
    client.on('connect', () => {
      this.log.info('MQTT connected', { url: this.safeUrl, clientId: client.options.clientId });
      client.publish(this.topics.status(), JSON.stringify(this.birth()), { qos: 1, retain: true });
      this.clearStaleOutages(client);
      this.subscribeCommands(client);
    });
    client.on('reconnect', () => this.log.debug('MQTT reconnecting', { url: this.safeUrl }));
    client.on('offline', () => this.log.warn('MQTT broker unreachable; messages are queued until it returns', { url: this.safeUrl }));
    client.on('error', (err) => this.log.warn('MQTT error', { url: this.safeUrl, err }));
  }

  /** Resolves when connected (for tests and `readyz`), or rejects after `timeoutMs`. */
  async waitConnected(timeoutMs: number): Promise<void> {
    const client = this.client;
    if (client === undefined) throw new Error('MQTT publisher not started');
    if (client.connected) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`MQTT not connected to ${this.safeUrl} within ${timeoutMs} ms`)), timeoutMs);
      client.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  get publishedCount(): number {
    return this.published;
  }

  publishEvents(events: readonly DomainEvent[]): void {
    for (const event of events) {
      const onDelivered = this.opts.onEventDelivered;
      this.send(this.topics.events(), event, false, onDelivered === undefined ? undefined : () => onDelivered(event.seq));
      switch (event.type) {
        case 'outage.started':
        case 'outage.updated':
          if (event.outage.state === 'active') {
            this.send(this.topics.outage(event.outage.id), event.outage, true);
            break;
          }
          // Merged into an upstream outage: its final word, then the retained topic is cleared (as on restoration).
          this.send(this.topics.outage(event.outage.id), event.outage, false);
          this.client?.publish(this.topics.outage(event.outage.id), '', { qos: 1, retain: true });
          break;
        case 'selfHealing.progress':
        case 'selfHealing.completed':
          // The latest report per feeder stays retained, so a dashboard sees the last self-healing at once.
          this.send(this.topics.selfHealing(event.report.feederId), event.report, true);
          break;
        case 'outage.restored':
          this.send(this.topics.outage(event.outage.id), event.outage, false);
          this.client?.publish(this.topics.outage(event.outage.id), '', { qos: 1, retain: true });
          break;
        case 'device.availability':
          this.send(
            this.topics.deviceAvailability(event.deviceId),
            { deviceId: event.deviceId, state: event.state, previousState: event.previousState, ts: event.ts, lastGoodAt: event.lastGoodAt, consecutiveErrors: event.consecutiveErrors, error: event.error },
            true,
          );
          break;
      }
    }
  }

  publishFeederStates(states: readonly FeederState[]): void {
    for (const state of states) {
      // Compare without the timestamp: republish only when energization or positions changed.
      const key = JSON.stringify({ ...state, ts: undefined });
      if (this.lastFeederState.get(state.feederId) === key) continue;
      this.lastFeederState.set(state.feederId, key);
      this.send(this.topics.feederState(state.feederId), state, true);
    }
  }

  publishReadings(_deviceId: string, _readings: readonly Reading[]): void {
    // Raw telemetry goes to InfluxDB; MQTT carries events and state (keeps the broker load proportional to change).
  }

  async stop(): Promise<void> {
    const client = this.client;
    if (client === undefined) return;
    this.client = undefined;
    if (!client.connected) {
      // Without a durable outbox (planned), what mqtt.js still holds in memory is lost here: say so.
      this.log.warn('MQTT broker unreachable at shutdown; queued messages are dropped', { url: this.safeUrl });
    }
    if (client.connected) {
      // A clean shutdown is not a failure: say offline ourselves, since the broker will not send the Will.
      await client.publishAsync(this.topics.status(), JSON.stringify({ online: false, siteId: this.opts.siteId, ts: new Date().toISOString(), reason: 'shutdown' }), { qos: 1, retain: true }).catch(() => undefined);
    }
    await client.endAsync(!client.connected);
  }

  private send(topic: string, payload: unknown, retain: boolean, onAcknowledged?: () => void): void {
    this.published += 1;
    this.client?.publish(topic, JSON.stringify(payload), { qos: 1, retain }, (err) => {
      if (err) this.log.warn('MQTT publish failed', { topic, err });
      else onAcknowledged?.();
    });
  }

  /**
   * Subscribes to the retained outage topics for a moment and clears (empty retained message) each retained
   * outage the engine does not know as active. Only messages the broker flags as retained are looked at:
   * the gateway's own live publishes arrive without the flag.
   */
  private subscribeCommands(client: MqttClient): void {
    const handle = this.opts.onCommand;
    if (handle === undefined) return;
    const prefix = `${this.topics.root}/cmd/`;
    if (this.commandListener === undefined) {
      this.commandListener = (topic: string, payload: Buffer): void => {
        if (!topic.startsWith(prefix)) return;
        const name = topic.slice(prefix.length);
        if (name === '' || name.includes('/')) return;
        let result: unknown;
        try {
          result = handle(name, payload);
        } catch (err) {
          result = { command: name, ok: false, error: err instanceof Error ? err.message : String(err) };
        }
        this.log.info('command handled', { command: name, ok: (result as { ok?: unknown }).ok, error: (result as { error?: unknown }).error });
        client.publish(`${prefix}${name}/result`, JSON.stringify(result), { qos: 1, retain: false });
      };
      client.on('message', this.commandListener);
    }
    client.subscribe(`${prefix}+`, { qos: 1 }, (err) => {
      if (err) this.log.warn('cannot subscribe to commands', { err });
    });
  }

  private commandListener: ((topic: string, payload: Buffer) => void) | undefined;

  private clearStaleOutages(client: MqttClient): void {
    const isActive = this.opts.isActiveOutage;
    if (isActive === undefined) return;
    const prefix = this.topics.outage('');
    const filter = this.topics.outage('+');
    const onMessage = (topic: string, payload: Buffer, packet: { retain?: boolean }): void => {
      if (packet.retain !== true || payload.length === 0 || !topic.startsWith(prefix)) return;
      const outageId = topic.slice(prefix.length);
      if (isActive(outageId)) return;
      this.log.warn('clearing a retained outage this gateway does not know as active (left by an earlier run)', { outageId });
      client.publish(topic, '', { qos: 1, retain: true });
    };
    client.on('message', onMessage);
    client.subscribe(filter, { qos: 1 }, (err) => {
      if (err) this.log.debug('cannot look for stale retained outages', { err });
      setTimeout(() => {
        client.removeListener('message', onMessage);
        if (client.connected) client.unsubscribe(filter);
      }, STALE_SWEEP_MS).unref();
    });
  }

  private birth(): Record<string, unknown> {
    return { online: true, siteId: this.opts.siteId, version: this.opts.version, startedAt: this.startedAt, ts: new Date().toISOString() };
  }

  private clientOptions(): IClientOptions {
    const c = this.config;
    const options: IClientOptions = {
      clientId: c.clientId ?? `feederwatch-${this.opts.siteId}`,
      protocolVersion: c.protocolVersion,
      reconnectPeriod: 2000,
      connectTimeout: 10_000,
      will: {
        topic: this.topics.status(),
        payload: Buffer.from(JSON.stringify({ online: false, siteId: this.opts.siteId })),
        qos: 1,
        retain: true,
      },
    };
    if (c.username !== undefined) options.username = c.username;
    if (c.password !== undefined) options.password = c.password;
    if (c.tls !== undefined) {
      if (c.tls.ca !== undefined) options.ca = readFileSync(c.tls.ca);
      if (c.tls.cert !== undefined) options.cert = readFileSync(c.tls.cert);
      if (c.tls.key !== undefined) options.key = readFileSync(c.tls.key);
      options.rejectUnauthorized = c.tls.rejectUnauthorized;
    }
    return options;
  }
}

/** `mqtt://user:secret@host:1883` -> `mqtt://host:1883` (credentials in a URL must never reach a log). */
export function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//');
  }
}
