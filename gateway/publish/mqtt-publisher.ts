/**
 * The MQTT sink (mqtt.js) under `feederwatch/v1/<siteId>` (docs/mqtt.md):
 * - `status`: retained birth `{"online":true}` on every (re)connect; Last Will `{"online":false}` retained;
 * - `events`: every domain event, QoS 1, in sequence order; late ones (from the outbox backlog) marked
 *   `historical: true`;
 * - `outages/<id>`: retained while active; on restoration a final `state: "restored"` message (not
 *   retained) and then an empty retained message that clears the topic;
 * - `feeders/<id>/state`: retained energization snapshot, published when it changes;
 * - `feeders/<id>/selfHealing`, `devices/<id>/availability`, `reliability`: retained;
 * - `notices`: customer notices, QoS 1;
 * - `cmd/<name>/result`: the answer to a command received on `cmd/<name>` (when `onCommand` is given).
 * Payload types, topics and retain flags come from one type map (contract.ts, schemas in config/schemas/mqtt/).
 *
 * Delivery (docs/outbox.md): events, feeder states and notices come from the durable outbox through this
 * sink's sender; each is acknowledged when the broker's PUBACK arrives. Nothing is queued in mqtt.js while the
 * broker is unreachable: the outbox is the queue. On every connect, before the sender resumes, the retained
 * topics are republished from the gateway's current state (`retainedState`), so the retained side topics are
 * only ever published for live events: a historical `outage.started` replayed after the live restoration must
 * not bring back a cleared outage. Persistent session: a fixed client id with `clean: false` (MQTT 5: clean
 * start off and a session expiry), so the broker keeps the command subscription across a reconnection.
 *
 * With `isActiveOutage`, every connect looks at the retained `outages/+` topics once and clears those the
 * engine does not know as active: left behind by an earlier run that could not close them.
 */
import type { Notice } from '../notices/notice-types.js';
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { MqttConfig } from '../config/site-config.js';
import type { DomainEvent, FeederState, Outage, SelfHealingReport } from '../engine/events.js';
import type { Logger } from '../log.js';
import type { ReliabilityReport } from '../reliability/report.js';
import type { OutboxItem } from './outbox.js';
import type { Delivery, OutboxKind, Sink, SinkLink } from './sink.js';
import { Topics } from './topics.js';
import {
  MQTT_QOS,
  outageClearMessage,
  publish,
  type ContractMessage,
  type DeviceAvailabilityPayload,
  type MqttContract,
  type MqttTopicKind,
  type StatusBirth,
  type StatusShutdown,
  type StatusWill,
} from './contract.js';
import type { CommandResult } from '../runtime/commands.js';

export interface MqttPublisherOptions {
  siteId: string;
  logger: Logger;
  version: string;
  /** The gateway's current retained state, republished on every connect before the backlog. */
  retainedState?: () => RetainedState;
  /** Whether an outage id is active in the engine; enables clearing stale retained outages on connect. */
  isActiveOutage?: (outageId: string) => boolean;
  /**
   * Handles a command received on `<root>/cmd/<name>`; its result is published on `<root>/cmd/<name>/result`.
   * Without it the gateway does not subscribe to commands.
   */
  onCommand?: (name: string, payload: Buffer) => CommandResult;
}

/** What the retained topics say, from the gateway's current state. */
export interface RetainedState {
  activeOutages: readonly Outage[];
  devices: readonly DeviceAvailabilityPayload[];
  feederStates: readonly FeederState[];
  /** The last self-healing report per feeder seen by this process. */
  selfHealing: readonly SelfHealingReport[];
  reliability: ReliabilityReport | null;
}

/**
 * MQTT 5 session expiry (seconds) of the persistent session: how long the broker keeps the gateway's session
 * (subscriptions, QoS 1 messages in flight) after a disconnection. One week covers a long site outage.
 */
export const SESSION_EXPIRY_S = 7 * 24 * 3600;

/** How long a clean stop waits for the broker to acknowledge the shutdown status. */
const SHUTDOWN_PUBLISH_MS = 2000;

/** How long after subscribing retained outage topics are looked at for stale ones. */
const STALE_SWEEP_MS = 2000;

export class MqttPublisher implements Sink {
  readonly name = 'mqtt';
  readonly kinds: ReadonlySet<OutboxKind> = new Set<OutboxKind>(['event', 'feederState', 'notice']);
  readonly batchSize = 100;
  /** Bounds what mqtt.js holds awaiting PUBACK. */
  readonly maxInflight = 500;
  readonly lingerMs = 0;
  readonly topics: Topics;
  private client: MqttClient | undefined;
  private link: SinkLink | undefined;
  private readonly log: Logger;
  private readonly lastFeederState = new Map<string, string>();
  private readonly startedAt = new Date().toISOString();
  private published = 0;
  private lastReliability: ReliabilityReport | null = null;

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
  async start(link?: SinkLink): Promise<void> {
    this.link = link;
    const client = mqtt.connect(this.config.url, this.clientOptions());
    this.client = client;
    client.on('connect', () => {
      this.log.info('MQTT connected', { url: this.safeUrl, clientId: client.options.clientId });
      publish(client, this.topics, 'status', this.birth());
      this.clearStaleOutages(client);
      this.subscribeCommands(client);
      // In the same tick as `up`: nothing can be appended between the snapshot and the sender's resume.
      this.republishRetained(client);
      this.link?.up();
    });
    client.on('reconnect', () => this.log.debug('MQTT reconnecting', { url: this.safeUrl }));
    client.on('close', () => this.link?.down('broker connection closed'));
    client.on('offline', () => this.log.warn('MQTT broker unreachable; events wait in the outbox until it returns', { url: this.safeUrl }));
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

  get reachable(): boolean {
    return this.connected;
  }

  async probe(): Promise<boolean> {
    return this.connected;
  }

  get publishedCount(): number {
    return this.published;
  }

  /**
   * Publishes outbox items; each is acknowledged on its PUBACK. Historical events and notices carry
   * `historical: true` and never touch the retained side topics; a historical feeder state is superseded by
   * the one republished on connect, so it is acknowledged without publishing.
   */
  deliver(items: readonly OutboxItem[], historical: boolean, delivery: Delivery): void {
    const client = this.client;
    if (client === undefined || !client.connected) {
      delivery.failed(new Error('MQTT not connected'));
      return;
    }
    for (const item of items) {
      const onAck = (err?: Error): void => {
        if (err) delivery.failed(err);
        else delivery.acked(item.id);
      };
      let payload: unknown;
      try {
        payload = JSON.parse(item.payload);
      } catch (err) {
        this.log.error('outbox item unreadable for MQTT; skipped', { id: item.id, kind: item.kind, err });
        delivery.acked(item.id);
        continue;
      }
      switch (item.kind as OutboxKind) {
        case 'event': {
          const event = payload as DomainEvent;
          this.send(client, 'events', historical ? { ...event, historical: true } : event, onAck);
          if (!historical) this.publishSideTopics(client, event);
          break;
        }
        case 'notice': {
          const notice = payload as Notice;
          this.send(client, 'notice', historical ? { ...notice, historical: true } : notice, onAck);
          break;
        }
        case 'feederState': {
          const state = payload as FeederState;
          if (historical || !this.feederStateChanged(state)) delivery.acked(item.id);
          else this.send(client, 'feederState', state, onAck);
          break;
        }
        default:
          delivery.acked(item.id);
      }
    }
  }

  /** The latest reliability indices, retained (live only: the current report is republished on connect). */
  publishReliability(report: ReliabilityReport): void {
    this.lastReliability = report;
    const client = this.client;
    if (client?.connected === true) this.send(client, 'reliability', report);
  }

  async stop(): Promise<void> {
    const client = this.client;
    if (client === undefined) return;
    this.client = undefined;
    this.link = undefined;
    if (client.connected) {
      // A clean shutdown is not a failure: say offline ourselves, since the broker will not send the Will.
      const shutdown: StatusShutdown = { online: false, siteId: this.opts.siteId, ts: new Date().toISOString(), reason: 'shutdown' };
      // Bounded: with a persistent session mqtt.js keeps an unacknowledged message for the next connection
      // instead of failing it when the connection drops, so its callback may never come.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, SHUTDOWN_PUBLISH_MS);
        publish(client, this.topics, 'status', shutdown, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    await client.endAsync(!client.connected);
  }

  /** Retained topics that follow a live event. */
  private publishSideTopics(client: MqttClient, event: DomainEvent): void {
    switch (event.type) {
      case 'outage.started':
      case 'outage.updated':
        // Active: retained. Merged into an upstream outage: its final word (not retained), then the retained
        // topic is cleared (as on restoration).
        this.send(client, 'outage', event.outage);
        if (event.outage.state !== 'active') this.sendRaw(client, outageClearMessage(this.topics, event.outage.id));
        break;
      case 'selfHealing.progress':
      case 'selfHealing.completed':
        // The latest report per feeder stays retained, so a dashboard sees the last self-healing at once.
        this.send(client, 'selfHealing', event.report);
        break;
      case 'outage.restored':
        this.send(client, 'outage', event.outage);
        this.sendRaw(client, outageClearMessage(this.topics, event.outage.id));
        break;
      case 'device.availability':
        this.send(client, 'deviceAvailability', availabilityPayload(event));
        break;
    }
  }

  /** The retained topics from the gateway's current state (every connect, before the backlog). */
  private republishRetained(client: MqttClient): void {
    const state = this.opts.retainedState?.();
    if (state === undefined) return;
    for (const outage of state.activeOutages) this.send(client, 'outage', outage);
    for (const device of state.devices) this.send(client, 'deviceAvailability', device);
    for (const report of state.selfHealing) this.send(client, 'selfHealing', report);
    this.lastFeederState.clear();
    for (const feederState of state.feederStates) {
      this.feederStateChanged(feederState);
      this.send(client, 'feederState', feederState);
    }
    const reliability = state.reliability ?? this.lastReliability;
    if (reliability !== null) this.send(client, 'reliability', reliability);
  }

  /** Compares without the timestamp: republish only when energization or positions changed. */
  private feederStateChanged(state: FeederState): boolean {
    const key = JSON.stringify({ ...state, ts: undefined });
    if (this.lastFeederState.get(state.feederId) === key) return false;
    this.lastFeederState.set(state.feederId, key);
    return true;
  }

  /** Publishes a payload of the contract on its topic (QoS 1, retain as the contract says). */
  private send<K extends MqttTopicKind>(client: MqttClient, kind: K, payload: MqttContract[K], onAck?: (err?: Error) => void): void {
    this.published += 1;
    const message = publish(client, this.topics, kind, payload, (err) => {
      if (err) this.log.warn('MQTT publish failed', { topic: message.topic, err });
      onAck?.(err);
    });
  }

  /** A message outside the JSON payloads (the empty retained message clearing an outage topic). */
  private sendRaw(client: MqttClient, message: ContractMessage): void {
    client.publish(message.topic, message.body, { qos: message.qos, retain: message.retain });
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
        let result: CommandResult;
        try {
          result = handle(name, payload);
        } catch (err) {
          result = { command: name, ok: false, requestId: null, error: err instanceof Error ? err.message : String(err) };
        }
        this.log.info('command handled', { command: name, ok: result.ok, error: result.error });
        // The result topic is derived from `result.command`: keep it the name the command came on.
        publish(client, this.topics, 'commandResult', { ...result, command: name });
      };
      client.on('message', this.commandListener);
    }
    client.subscribe(`${prefix}+`, { qos: MQTT_QOS }, (err) => {
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
      const clear = outageClearMessage(this.topics, outageId);
      client.publish(clear.topic, clear.body, { qos: clear.qos, retain: clear.retain });
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

  private birth(): StatusBirth {
    return { online: true, siteId: this.opts.siteId, version: this.opts.version, startedAt: this.startedAt, ts: new Date().toISOString() };
  }

  private clientOptions(): IClientOptions {
    return mqttClientOptions(this.config, this.opts.siteId, this.topics);
  }
}

/**
 * The mqtt.js options of the gateway's connection: fixed client id, persistent session (`clean: false`; with
 * MQTT 5 a session expiry of SESSION_EXPIRY_S, since MQTT 5 ends a session at disconnection by default), the
 * Last Will on `status`, credentials and TLS files.
 */
/** `devices/<id>/availability`: the event without its envelope. */
export function availabilityPayload(event: Extract<DomainEvent, { type: 'device.availability' }>): DeviceAvailabilityPayload {
  return {
    deviceId: event.deviceId,
    state: event.state,
    previousState: event.previousState,
    ts: event.ts,
    lastGoodAt: event.lastGoodAt,
    consecutiveErrors: event.consecutiveErrors,
    error: event.error,
  };
}

export function mqttClientOptions(c: MqttConfig, siteId: string, topics: Topics): IClientOptions {
  const will: StatusWill = { online: false, siteId };
  const options: IClientOptions = {
    clientId: c.clientId ?? `feederwatch-${siteId}`,
    protocolVersion: c.protocolVersion,
    clean: false,
    reconnectPeriod: 2000,
    connectTimeout: 10_000,
    will: {
      topic: topics.status(),
      payload: Buffer.from(JSON.stringify(will)),
      qos: MQTT_QOS,
      retain: true,
    },
  };
  if (c.protocolVersion === 5) options.properties = { sessionExpiryInterval: SESSION_EXPIRY_S };
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
