/**
 * A northbound sink (MQTT, InfluxDB) as the outbox sees it (docs/outbox.md). The gateway never hands data to
 * a sink directly: it appends to the durable outbox, and one OutboxSender per sink reads the outbox and calls
 * `deliver`. The sink says when its peer is usable (`link.up()`, `link.down()`) and acknowledges each item
 * once its peer confirmed it (MQTT PUBACK, InfluxDB HTTP 204); the sender then moves the sink's durable
 * cursor. What a sink does not carry (`kinds`) is acknowledged for it by the sender without a call.
 */
import type { OutboxItem } from './outbox.js';

/** What the gateway appends to the outbox (the `kind` column), with the payload each carries (JSON). */
export type OutboxKind =
  /** A DomainEvent; key: the event type. */
  | 'event'
  /** A FeederState (appended only when it changed); key: the feeder id. */
  | 'feederState'
  /** A ReadingsRecord; key: the device id. */
  | 'reading'
  /** A Notice; key: the notice id. */
  | 'notice'
  /** A ReliabilityReport. */
  | 'reliability';

/** The `reading` payload: one device's good values of one poll (bad readings are not stored as values). */
export interface ReadingsRecord {
  deviceId: string;
  /** Source time of the newest value (ms since the epoch). */
  ts: number;
  values: Record<string, number>;
}

/** What a sink tells its sender about its peer. */
export interface SinkLink {
  /** The peer is usable (connected, answering): the sender resumes from the durable cursor. */
  up(): void;
  /** The peer is gone: the sender stops reading; what was in flight is read again after the next `up`. */
  down(reason: string): void;
}

/** Results of one `deliver` call: each id at most once, `failed` at most once, in any order. */
export interface Delivery {
  /** The peer confirmed this item. */
  acked(id: number): void;
  /** The peer did not take the batch (transient): the sender stops until the sink is up again. */
  failed(err: unknown): void;
}

export interface Sink {
  /** The outbox sink name: 'mqtt' | 'influx'. */
  readonly name: string;
  /** Kinds this sink carries; the others are acknowledged for it at once. */
  readonly kinds: ReadonlySet<OutboxKind>;
  /** Most items per `deliver`. */
  readonly batchSize: number;
  /** Most items delivered and not yet acknowledged. */
  readonly maxInflight: number;
  /**
   * How long live items may wait to fill a batch (InfluxDB writes fewer, larger requests); 0: at once.
   * Urgent appends (domain events) do not wait.
   */
  readonly lingerMs: number;
  /** Starts connecting; resolves at once (a peer that is down must not hold the gateway's start). */
  start(link: SinkLink): Promise<void>;
  /** Hands items to the peer. Called only between `link.up()` and `link.down()`. */
  deliver(items: readonly OutboxItem[], historical: boolean, delivery: Delivery): void;
  /** After a failed delivery: whether the peer answers again (the sender then resumes). */
  probe(): Promise<boolean>;
  /** Whether the peer answered the last attempt. */
  readonly reachable: boolean;
  /** Says goodbye to the peer and disconnects. What was not acknowledged stays in the outbox. */
  stop(): Promise<void>;
}
