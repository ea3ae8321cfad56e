/**
 * Writes telemetry and outage events to InfluxDB 1.x through the `influx` package (docs/influx.md).
 * Points are batched (by count and by time) and written in the background; when the server is down the
 * batch stays in a bounded in-memory buffer (oldest dropped first, counted) and is retried with backoff.
 * The database is created on start when missing. A down InfluxDB never blocks MQTT or the engine.
 */
import { FieldType, InfluxDB, toNanoDate, type IPoint } from 'influx';
import type { DeviceConfig, InfluxConfig } from '../config/site-config.js';
import type { DomainEvent, FeederState, Outage } from '../engine/events.js';
import type { Logger } from '../log.js';
import type { Reading } from '../../drivers/reading.js';
import type { Publisher } from './publisher.js';
import { reliabilityPoints, type ReliabilityReport } from '../reliability/report.js';

export interface InfluxPublisherOptions {
  logger: Logger;
  devices: readonly DeviceConfig[];
  /** Flush when this many points are waiting. */
  batchSize?: number;
  /** Flush at least this often. */
  flushIntervalMs?: number;
  /** Bound of the in-memory buffer while the server is unreachable. */
  maxBufferedPoints?: number;
}

export interface InfluxPublisherStats {
  written: number;
  buffered: number;
  dropped: number;
  failedWrites: number;
  reachable: boolean;
}

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

const AVAILABILITY_SCHEMA = {
  measurement: 'device_availability',
  tags: ['device', 'state'],
  fields: { online: FieldType.BOOLEAN, consecutiveErrors: FieldType.INTEGER, error: FieldType.STRING, seq: FieldType.INTEGER },
};

export class InfluxPublisher implements Publisher {
  readonly name = 'influx';
  private readonly client: InfluxDB;
  private readonly log: Logger;
  private buffer: IPoint[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private databaseReady = false;
  private retryDelayMs = 1000;
  private nextAttemptAt = 0;
  private readonly bindings = new Map<string, { measurement: 'meter' | 'switch'; tags: Record<string, string> }>();
  private readonly stats: InfluxPublisherStats = { written: 0, buffered: 0, dropped: 0, failedWrites: 0, reachable: false };
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly maxBufferedPoints: number;

  constructor(
    private readonly config: InfluxConfig,
    opts: InfluxPublisherOptions,
  ) {
    this.log = opts.logger.child({ module: 'influx' });
    this.batchSize = opts.batchSize ?? 5000;
    this.flushIntervalMs = opts.flushIntervalMs ?? 1000;
    this.maxBufferedPoints = opts.maxBufferedPoints ?? 200_000;
    this.client = new InfluxDB({
      host: config.host,
      port: config.port,
      protocol: config.protocol,
      database: config.database,
      username: config.username,
      password: config.password,
      schema: [OUTAGE_SCHEMA, AVAILABILITY_SCHEMA, SELF_HEALING_SCHEMA],
      // A server that accepts connections and never answers must not hold the flush loop (or shutdown) for
      // the library's default 30 s; our own loop retries with backoff.
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

  /** Resolves at once: the database is created (and the server found) in the background, by the flush loop. */
  async start(): Promise<void> {
    void this.flush();
    this.flushTimer = setInterval(() => void this.flush(), this.flushIntervalMs);
    this.flushTimer.unref();
  }

  getStats(): InfluxPublisherStats {
    return { ...this.stats, buffered: this.buffer.length };
  }

  publishReadings(deviceId: string, readings: readonly Reading[]): void {
    const binding = this.bindings.get(deviceId);
    if (binding === undefined) return;
    const fields: Record<string, number> = {};
    let ts = 0;
    for (const r of readings) {
      if (r.quality === 'bad' || r.value === null || !Number.isFinite(r.value)) continue;
      fields[r.point] = r.value;
      ts = Math.max(ts, r.sourceTs);
    }
    if (ts === 0) return;
    this.enqueue({ measurement: binding.measurement, tags: binding.tags, fields, timestamp: new Date(ts) });
  }

  publishEvents(events: readonly DomainEvent[]): void {
    for (const event of events) {
      switch (event.type) {
        case 'outage.started':
        case 'outage.updated':
        case 'outage.restored':
          this.enqueue(outagePoint(event.type.slice('outage.'.length), event.seq, event.ts, event.outage));
          break;
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
          this.enqueue({
            measurement: 'self_healing',
            tags: { feeder: r.feederId, kind: r.kind, outcome: r.outcome ?? 'unknown' },
            fields,
            timestamp: uniqueTime(event.ts, event.seq),
          });
          break;
        }
        case 'device.availability':
          this.enqueue({
            measurement: 'device_availability',
            tags: { device: event.deviceId, state: event.state },
            fields: { online: event.state === 'online', consecutiveErrors: event.consecutiveErrors, error: event.error ?? '', seq: event.seq },
            timestamp: uniqueTime(event.ts, event.seq),
          });
          break;
      }
    }
    // Outage events are rare and matter: write them without waiting for the timer.
    void this.flush();
  }

  publishReliability(report: ReliabilityReport): void {
    for (const point of reliabilityPoints(report)) this.enqueue(point);
  }

  publishFeederStates(_states: readonly FeederState[]): void {
    // Feeder energization is derived from the switch telemetry and outages already written.
  }

  async stop(): Promise<void> {
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.flushTimer = undefined;
    this.nextAttemptAt = 0;
    await this.flush();
    if (this.buffer.length > 0) this.log.warn('InfluxDB points not written at shutdown', { points: this.buffer.length });
  }

  private enqueue(point: IPoint): void {
    this.buffer.push(point);
    this.trimBuffer();
    if (this.buffer.length >= this.batchSize) void this.flush();
  }

  /** Oldest points go first when the bound is reached; counted, never silent. */
  private trimBuffer(): void {
    if (this.buffer.length <= this.maxBufferedPoints) return;
    const excess = this.buffer.length - this.maxBufferedPoints;
    this.buffer.splice(0, excess);
    this.stats.dropped += excess;
  }

  private async ensureDatabase(): Promise<boolean> {
    if (this.databaseReady) return true;
    try {
      const names = await this.client.getDatabaseNames();
      if (!names.includes(this.config.database)) {
        await this.client.createDatabase(this.config.database);
        this.log.info('created InfluxDB database', { database: this.config.database });
      }
      this.databaseReady = true;
      this.stats.reachable = true;
      this.log.info('InfluxDB connected', { endpoint: this.endpoint });
      return true;
    } catch (err) {
      this.stats.reachable = false;
      this.log.warn('InfluxDB not reachable; telemetry and outages are buffered in memory and retried', {
        endpoint: this.endpoint,
        err,
      });
      return false;
    }
  }

  /** Writes what is buffered; one flush at a time, in order. */
  private flush(): Promise<void> {
    this.flushing ??= this.drain().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async drain(): Promise<void> {
    if (!this.databaseReady && Date.now() >= this.nextAttemptAt && !(await this.ensureDatabase())) {
      this.backOff();
      return;
    }
    while (this.buffer.length > 0 && Date.now() >= this.nextAttemptAt) {
      if (!(await this.ensureDatabase())) {
        this.backOff();
        return;
      }
      // The batch leaves the buffer while it is written, so the bound applied by enqueue() only ever drops
      // points still waiting, never the ones in flight; a transient failure puts the batch back in front.
      const batch = this.buffer.splice(0, this.batchSize);
      try {
        await this.client.writePoints(batch, { precision: 'n' });
        this.stats.written += batch.length;
        this.stats.reachable = true;
        this.retryDelayMs = 1000;
      } catch (err) {
        this.stats.failedWrites += 1;
        if (isPermanentWriteError(err)) {
          // A point the server refuses (field type conflict) would block everything behind it forever.
          this.stats.dropped += batch.length;
          this.log.error('InfluxDB refused a batch; dropped', { points: batch.length, err });
        } else {
          this.stats.reachable = false;
          this.databaseReady = false;
          this.buffer.unshift(...batch);
          this.trimBuffer();
          this.log.warn('InfluxDB write failed; will retry', { points: this.buffer.length, retryInMs: this.retryDelayMs, err });
          this.backOff();
          return;
        }
      }
    }
  }

  private backOff(): void {
    this.nextAttemptAt = Date.now() + this.retryDelayMs;
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, 30_000);
  }
}

function isPermanentWriteError(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /field type conflict|partial write|unable to parse|invalid/i.test(message);
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
