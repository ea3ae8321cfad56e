/**
 * The InfluxDB 1.x sink (docs/influx.md), through the `influx` package: turns outbox items (readings, domain
 * events, reliability reports) into points and writes them, one request per retention policy. Its sender
 * (outbox-sender.ts) batches by size and time and, while the server is down, leaves everything in the durable
 * outbox and probes with backoff; HTTP 204 moves the sink's cursor. The database and the retention policies
 * are created (or updated) whenever the server is found. A down InfluxDB never holds back MQTT or the engine.
 */
import { FieldType, InfluxDB, toNanoDate, type IPoint } from 'influx';
import type { DeviceConfig, InfluxConfig } from '../config/site-config.js';
import type { DomainEvent, FeederState, Outage } from '../engine/events.js';
import type { Logger } from '../log.js';
import type { OutboxItem } from './outbox.js';
import type { Delivery, OutboxKind, ReadingsRecord, Sink, SinkLink } from './sink.js';
import { reliabilityPoints, type ReliabilityReport } from '../reliability/report.js';

export interface InfluxPublisherOptions {
  logger: Logger;
  devices: readonly DeviceConfig[];
  /** Most points per write request. Default 5,000. */
  batchSize?: number;
  /** How long live telemetry may wait to fill a write request. Default 1 s (domain events do not wait). */
  flushIntervalMs?: number;
}

export interface InfluxPublisherStats {
  /** Points the server accepted. */
  written: number;
  /** Write requests that failed (the items stay in the outbox and are written again). */
  failedWrites: number;
  /** Points the server refused for good (field type conflict, unparsable): logged and skipped, never retried. */
  refused: number;
  reachable: boolean;
}

/** Retention policies the gateway creates (docs/influx.md): telemetry ages out; events, the default, stay longer. */
export const RETENTION_POLICIES = { telemetry: 'feederwatch_telemetry', events: 'feederwatch_events' } as const;
export const DEFAULT_RETENTION = { telemetry: '90d', events: 'INF' } as const;
type RetentionPolicyName = (typeof RETENTION_POLICIES)[keyof typeof RETENTION_POLICIES];

const OUTAGE_SCHEMA = {
  measurement: 'outage',
  tags: ['event', 'kind', 'cause'],
  fields: {
    id: FieldType.STRING,
    state: FieldType.STRING,
    seq: FieldType.INTEGER,
    feederIds: FieldType.STRING,
    sections: FieldType.STRING,
    transformers: FieldType.STRING,
    customers: FieldType.STRING,
    customerCount: FieldType.INTEGER,
    currentCustomerCount: FieldType.INTEGER,
    startedAt: FieldType.STRING,
    restoredAt: FieldType.STRING,
    durationMs: FieldType.INTEGER,
    customerMinutes: FieldType.FLOAT,
    faultSection: FieldType.STRING,
    causeDevice: FieldType.STRING,
  },
};

const SELF_HEALING_SCHEMA = {
  measurement: 'self_healing',
  tags: ['feeder', 'kind', 'outcome'],
  fields: {
    id: FieldType.STRING,
    seq: FieldType.INTEGER,
    faultSection: FieldType.STRING,
    isolatingDevices: FieldType.STRING,
    restoredUpstreamCustomers: FieldType.INTEGER,
    restoredByTransferCustomers: FieldType.INTEGER,
    stillOutCustomers: FieldType.INTEGER,
    steps: FieldType.INTEGER,
    durationMs: FieldType.INTEGER,
    outageIds: FieldType.STRING,
  },
};

const FEEDER_STATE_SCHEMA = {
  measurement: 'feeder_state',
  tags: ['feeder'],
  fields: {
    customersOut: FieldType.INTEGER,
    energizedSections: FieldType.INTEGER,
    deenergizedSections: FieldType.INTEGER,
    openSwitches: FieldType.INTEGER,
  },
};

const AVAILABILITY_SCHEMA = {
  measurement: 'device_availability',
  tags: ['device', 'state'],
  fields: { online: FieldType.BOOLEAN, consecutiveErrors: FieldType.INTEGER, error: FieldType.STRING, seq: FieldType.INTEGER },
};

export class InfluxPublisher implements Sink {
  readonly name = 'influx';
  readonly kinds: ReadonlySet<OutboxKind> = new Set<OutboxKind>(['event', 'reading', 'reliability', 'feederState']);
  readonly batchSize: number;
  /** Items delivered and not yet written: a few batches queue behind the request in flight. */
  get maxInflight(): number {
    return this.batchSize * 4;
  }
  readonly lingerMs: number;
  private readonly client: InfluxDB;
  private readonly log: Logger;
  private databaseReady = false;
  private link: SinkLink | undefined;
  private readonly bindings = new Map<string, { measurement: 'meter' | 'switch'; tags: Record<string, string> }>();
  private readonly stats: InfluxPublisherStats = { written: 0, failedWrites: 0, refused: 0, reachable: false };
  private writing: Promise<void> = Promise.resolve();
  /** Bumped by a failed write: deliveries queued before it are dropped (read again from the outbox). */
  private epoch = 0;

  constructor(
    private readonly config: InfluxConfig,
    opts: InfluxPublisherOptions,
  ) {
    this.log = opts.logger.child({ module: 'influx' });
    this.batchSize = opts.batchSize ?? 5000;
    this.lingerMs = opts.flushIntervalMs ?? 1000;
    this.client = new InfluxDB({
      host: config.host,
      port: config.port,
      protocol: config.protocol,
      database: config.database,
      username: config.username,
      password: config.password,
      schema: [OUTAGE_SCHEMA, AVAILABILITY_SCHEMA, SELF_HEALING_SCHEMA, FEEDER_STATE_SCHEMA],
      // A server that accepts connections and never answers must not hold the sender (or shutdown) for the
      // library's default 30 s; the sender retries with backoff.
      pool: { requestTimeout: 10_000, maxRetries: 0 },
    });
    for (const device of opts.devices) {
      if (device.binds.switch !== undefined) this.bindings.set(device.id, { measurement: 'switch', tags: { device: device.id, switch: device.binds.switch } });
      else if (device.binds.customer !== undefined) this.bindings.set(device.id, { measurement: 'meter', tags: { device: device.id, customer: device.binds.customer } });
    }
  }

  get endpoint(): string {
    return `${this.config.protocol}://${this.config.host}:${this.config.port}/${this.config.database}`;
  }

  get reachable(): boolean {
    return this.stats.reachable;
  }

  /** Resolves at once: the server is found (database and retention policies created) by the sender's probes. */
  async start(link: SinkLink): Promise<void> {
    this.link = link;
  }

  getStats(): InfluxPublisherStats {
    return { ...this.stats };
  }

  async probe(): Promise<boolean> {
    this.databaseReady = false;
    const ok = await this.ensureDatabase();
    if (ok) this.epoch += 1;
    return ok;
  }

  /**
   * Writes the items' points, one request per retention policy; HTTP 204 acknowledges every item of the
   * batch. Historical items need no marker: they carry their own timestamps.
   */
  deliver(items: readonly OutboxItem[], _historical: boolean, delivery: Delivery): void {
    const points = new Map<RetentionPolicyName, IPoint[]>();
    for (const item of items) {
      let converted: Array<[RetentionPolicyName, IPoint]>;
      try {
        converted = this.pointsOf(item);
      } catch (err) {
        // A payload this version cannot read (written by another version, or corrupt): skip it, say so.
        this.log.error('outbox item unreadable for InfluxDB; skipped', { id: item.id, kind: item.kind, err });
        converted = [];
      }
      for (const [rp, point] of converted) {
        const list = points.get(rp);
        if (list === undefined) points.set(rp, [point]);
        else list.push(point);
      }
    }
    // One request at a time, in delivery order: points of a later batch never overtake an earlier one.
    // Batches queued behind a failed one are not tried (they stay in the outbox and come again after a probe).
    const epoch = this.epoch;
    this.writing = this.writing.then(async () => {
      if (epoch !== this.epoch) return;
      try {
        await this.write(points);
      } catch (err) {
        this.epoch += 1;
        delivery.failed(err);
        return;
      }
      for (const item of items) delivery.acked(item.id);
    });
  }

  async stop(): Promise<void> {
    await this.writing;
    this.link = undefined;
  }

  /** Writes the batch; a point refused for good is logged and skipped, anything else rejects (retried later). */
  private async write(points: Map<RetentionPolicyName, IPoint[]>): Promise<void> {
    if (!this.databaseReady && !(await this.ensureDatabase())) throw new Error(`InfluxDB not reachable at ${this.endpoint}`);
    for (const [retentionPolicy, batch] of points) {
      try {
        await this.client.writePoints(batch, { precision: 'n', retentionPolicy });
        this.stats.written += batch.length;
        this.stats.reachable = true;
      } catch (err) {
        this.stats.failedWrites += 1;
        if (isPermanentWriteError(err)) {
          // A point the server refuses would block everything behind it forever. A partial write says how many
          // points it dropped (the others were written); otherwise the whole request was refused.
          const dropped = droppedPoints(err) ?? batch.length;
          this.stats.refused += dropped;
          this.stats.written += batch.length - dropped;
          this.log.error('InfluxDB refused points; skipped', { points: batch.length, retentionPolicy, err });
          continue;
        }
        this.stats.reachable = false;
        this.databaseReady = false;
        this.log.warn('InfluxDB write failed; the points stay in the outbox and are written again', { points: batch.length, err });
        this.link?.down(`write failed: ${err instanceof Error ? err.message : String(err)}`);
        throw err;
      }
    }
  }

  private pointsOf(item: OutboxItem): Array<[RetentionPolicyName, IPoint]> {
    switch (item.kind as OutboxKind) {
      case 'reading': {
        const record = JSON.parse(item.payload) as ReadingsRecord;
        const binding = this.bindings.get(record.deviceId);
        if (binding === undefined || Object.keys(record.values).length === 0) return [];
        return [[RETENTION_POLICIES.telemetry, { measurement: binding.measurement, tags: binding.tags, fields: record.values, timestamp: new Date(record.ts) }]];
      }
      case 'event': {
        const point = eventPoint(JSON.parse(item.payload) as DomainEvent);
        return point === null ? [] : [[RETENTION_POLICIES.events, point]];
      }
      case 'reliability':
        return reliabilityPoints(JSON.parse(item.payload) as ReliabilityReport).map((p) => [RETENTION_POLICIES.events, p]);
      case 'feederState':
        return [[RETENTION_POLICIES.events, feederStatePoint(JSON.parse(item.payload) as FeederState)]];
      default:
        return [];
    }
  }

  /** Creates the database and the retention policies (or brings their durations to the configured ones). */
  private async ensureDatabase(): Promise<boolean> {
    if (this.databaseReady) return true;
    try {
      const names = await this.client.getDatabaseNames();
      if (!names.includes(this.config.database)) {
        await this.client.createDatabase(this.config.database);
        this.log.info('created InfluxDB database', { database: this.config.database });
      }
      await this.ensureRetentionPolicies();
      this.databaseReady = true;
      this.stats.reachable = true;
      this.log.info('InfluxDB connected', { endpoint: this.endpoint });
      return true;
    } catch (err) {
      this.stats.reachable = false;
      this.log.warn('InfluxDB not reachable; telemetry and outages wait in the outbox and are retried', { endpoint: this.endpoint, err });
      return false;
    }
  }

  private async ensureRetentionPolicies(): Promise<void> {
    const existing = new Set((await this.client.showRetentionPolicies(this.config.database)).map((p) => p.name));
    const wanted: Array<[RetentionPolicyName, string, boolean]> = [
      [RETENTION_POLICIES.telemetry, this.config.retention?.telemetry ?? DEFAULT_RETENTION.telemetry, false],
      [RETENTION_POLICIES.events, this.config.retention?.events ?? DEFAULT_RETENTION.events, true],
    ];
    for (const [name, duration, isDefault] of wanted) {
      const options = { database: this.config.database, duration, replication: 1, isDefault };
      if (existing.has(name)) await this.client.alterRetentionPolicy(name, options);
      else {
        await this.client.createRetentionPolicy(name, options);
        this.log.info('created InfluxDB retention policy', { name, duration, default: isDefault });
      }
    }
  }
}

/**
 * A feeder's energization whenever it changed (the gateway appends a feeder state only then): customers out
 * summed over the feeders at any time is exact, even with outages overlapping.
 */
function feederStatePoint(state: FeederState): IPoint {
  return {
    measurement: 'feeder_state',
    tags: { feeder: state.feederId },
    fields: {
      customersOut: state.customersOut,
      energizedSections: state.energizedSections.length,
      deenergizedSections: state.deenergizedSections.length,
      openSwitches: Object.values(state.switches).filter((p) => p === 'open').length,
    },
    timestamp: new Date(state.ts),
  };
}

/** The point of a domain event (null: the event type is not written). */
function eventPoint(event: DomainEvent): IPoint | null {
  switch (event.type) {
    case 'outage.started':
    case 'outage.updated':
    case 'outage.restored':
      return outagePoint(event.type.slice('outage.'.length), event.seq, event.ts, event.outage);
    case 'selfHealing.completed': {
      const r = event.report;
      const fields: Record<string, string | number> = {
        id: r.id,
        seq: event.seq,
        isolatingDevices: r.isolatingDevices.join(','),
        restoredUpstreamCustomers: r.restoredUpstream.customers.length,
        restoredByTransferCustomers: r.restoredByTransfer.reduce((n, t) => n + t.customers.length, 0),
        stillOutCustomers: r.stillOut.customers.length,
        steps: r.steps.length,
        outageIds: r.outageIds.join(','),
      };
      if (r.faultSection !== null) fields.faultSection = r.faultSection;
      if (r.durationMs !== null) fields.durationMs = r.durationMs;
      return { measurement: 'self_healing', tags: { feeder: r.feederId, kind: r.kind, outcome: r.outcome ?? 'unknown' }, fields, timestamp: uniqueTime(event.ts, event.seq) };
    }
    case 'device.availability':
      return {
        measurement: 'device_availability',
        tags: { device: event.deviceId, state: event.state },
        fields: { online: event.state === 'online', consecutiveErrors: event.consecutiveErrors, error: event.error ?? '', seq: event.seq },
        timestamp: uniqueTime(event.ts, event.seq),
      };
    default:
      return null;
  }
}

/** `partial write: ... dropped=3` -> 3 (InfluxDB 1.x), else null. */
function droppedPoints(err: unknown): number | null {
  const match = /dropped=(\d+)/.exec(err instanceof Error ? err.message : String(err));
  return match === null ? null : Number(match[1]);
}

/**
 * The server refused the points themselves (HTTP 400: field type conflict, partial write, unparsable line):
 * writing them again cannot help. Anything else (no answer, 5xx, 401 while credentials are being fixed) is
 * retried from the outbox.
 */
function isPermanentWriteError(err: unknown): boolean {
  const status = (err as { res?: { statusCode?: number } } | null)?.res?.statusCode;
  if (status !== undefined) return status === 400;
  const message = err instanceof Error ? err.message : String(err);
  return /field type conflict|partial write|unable to parse/i.test(message);
}

function outagePoint(event: string, seq: number, ts: string, o: Outage): IPoint {
  const fields: Record<string, string | number> = {
    id: o.id,
    state: o.state,
    seq,
    feederIds: o.feederIds.join(','),
    sections: o.sections.join(','),
    transformers: o.transformers.join(','),
    customers: o.customers.join(','),
    customerCount: o.customerCount,
    currentCustomerCount: o.currentCustomerCount,
    startedAt: o.startedAt,
  };
  if (o.restoredAt !== null) fields.restoredAt = o.restoredAt;
  if (o.durationMs !== null) fields.durationMs = o.durationMs;
  if (o.customerMinutes !== null) fields.customerMinutes = o.customerMinutes;
  if (o.faultSection !== null) fields.faultSection = o.faultSection;
  if (o.causeDevice !== null) fields.causeDevice = o.causeDevice;
  return { measurement: 'outage', tags: { event, kind: o.kind, cause: o.cause }, fields, timestamp: uniqueTime(ts, seq) };
}

/**
 * InfluxDB keeps one point per series and timestamp: two outage events with the same tags in the same
 * millisecond (one fault flag updating two outages) would overwrite each other. The event's sequence number
 * fills the sub-millisecond digits, so each event keeps its own point and the millisecond stays exact.
 */
function uniqueTime(iso: string, seq: number): ReturnType<typeof toNanoDate> {
  const ms = Date.parse(iso);
  return toNanoDate(`${ms}${String(seq % 1_000_000).padStart(6, '0')}`);
}
