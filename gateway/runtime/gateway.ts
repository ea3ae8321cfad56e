/**
 * The composition root of a running gateway: drivers -> point map -> engine -> outbox -> sinks.
 * Start order: outbox and sinks (so nothing the engine says is lost), engine, drivers. Stop in reverse:
 * drivers first (no new readings), then the sinks get a moment to take what the outbox holds.
 *
 * Delivery (docs/outbox.md): nothing is handed to a sink directly. Events, feeder states, notices, readings
 * and reliability reports are appended to the durable outbox; one OutboxSender per sink (MQTT, InfluxDB)
 * delivers them and moves that sink's cursor on acknowledgement, so a sink that is down holds back only
 * itself and receives its backlog (marked historical) when it returns.
 *
 * Persistence (when the site has `persistence:`): the stored state is restored before anything starts (the
 * event sequence continues, active outages continue with their ids and start times, nothing is published
 * again for them), and every batch that emitted events or changed the engine's state is saved, with its
 * events appended to the outbox, in ONE transaction before anything sees them: a restart (even after kill -9)
 * never reuses a sequence number nor loses an accepted event. Without persistence the outbox lives in memory.
 */
import type { SiteConfig } from '../config/site-config.js';
import { systemClock, type Clock } from '../clock.js';
import { Engine } from '../engine/engine.js';
import { SelfHealingRecognizer } from '../engine/self-healing/recognizer.js';
import { CommandHandler } from './commands.js';
import { ReliabilityService } from './reliability-service.js';
import { NoticeBuilder } from '../notices/notice-builder.js';
import type { Notice } from '../notices/notice-types.js';
import type { DomainEvent, Outage } from '../engine/events.js';
import { EventSequence } from '../engine/sequence.js';
import type { Logger } from '../log.js';
import { InfluxPublisher } from '../publish/influx-publisher.js';
import { MqttPublisher, availabilityPayload, type RetainedState } from '../publish/mqtt-publisher.js';
import { Outbox, type OutboxInput } from '../publish/outbox.js';
import { OutboxSender } from '../publish/outbox-sender.js';
import type { ReadingsRecord, Sink } from '../publish/sink.js';
import type { SinkStatus } from '../publish/sink-status.js';
import type { DeviceAvailabilityPayload } from '../publish/contract.js';
import type { ReliabilityReport } from '../reliability/report.js';
import type { FeederState, SelfHealingReport } from '../engine/events.js';
import Database from 'better-sqlite3';
import type { Driver, Reading } from '../../drivers/reading.js';
import { createDrivers } from './driver-factory.js';
import { StateStore, eventItem } from './state-store.js';
import { AvailabilityTracker, type AvailabilitySnapshot } from './availability.js';
import { PointMap } from './point-map.js';
import { logEvent } from './event-log.js';

export interface GatewayOptions {
  logger: Logger;
  version: string;
  clock?: Clock;
  /** How often at most the retained feeder state is recomputed after switch observations. */
  feederStateThrottleMs?: number;
  /** How long a clean stop waits for reachable sinks to take what is still in the outbox. Default 3 s. */
  drainOnStopMs?: number;
}

/** Readings are appended to the outbox in batches: at most this often (ms) or this many at once. */
const READINGS_APPEND_MS = 100;
const READINGS_APPEND_MAX = 2000;

export interface GatewayStatus {
  siteId: string;
  startedAt: string | null;
  activeOutages: Outage[];
  devices: AvailabilitySnapshot[];
  eventsEmitted: number;
  /** The state database, or null when the site runs without persistence. */
  stateFile: string | null;
}

export class Gateway {
  private currentEngine: Engine;
  /** The northbound sinks (MQTT, InfluxDB), each fed by its own outbox sender. */
  readonly sinks: Sink[] = [];
  private senders: OutboxSender[] = [];
  private outbox: Outbox | undefined;
  /** The in-memory database of the outbox when the site runs without persistence. */
  private memoryDb: Database.Database | undefined;
  private pendingReadings: OutboxInput[] = [];
  private readingsTimer: NodeJS.Timeout | undefined;
  private readonly lastFeederStates = new Map<string, string>();
  private readonly lastAvailability = new Map<string, DeviceAvailabilityPayload>();
  private readonly lastSelfHealing = new Map<string, SelfHealingReport>();
  private lastReliability: ReliabilityReport | null = null;
  private mqtt: MqttPublisher | undefined;
  drivers: Driver[] = [];
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly pointMap: PointMap;
  private readonly availability: AvailabilityTracker;
  private readonly sequence: EventSequence;
  private feederStateTimer: NodeJS.Timeout | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private startedAt: number | null = null;
  private eventsEmitted = 0;
  private store: StateStore | undefined;
  private reliability: ReliabilityService | undefined;
  private reliabilityTimer: NodeJS.Timeout | undefined;
  private readonly commands: CommandHandler;
  private readonly notices: NoticeBuilder;
  private readonly eventListeners: Array<(events: readonly DomainEvent[]) => void> = [];
  private readonly readingListeners: Array<(deviceId: string, readings: readonly Reading[]) => void> = [];

  constructor(
    readonly site: SiteConfig,
    private readonly opts: GatewayOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger.child({ module: 'gateway' });
    this.sequence = new EventSequence(site.siteId);
    this.currentEngine = this.newEngine();
    this.pointMap = new PointMap(site.devices);
    this.availability = new AvailabilityTracker(
      site.devices.map((d) => d.id),
      this.sequence,
    );
    this.notices = new NoticeBuilder(site, { clock: this.clock, leadTimeMs: site.notices.leadTimeMs, batchSize: site.notices.batchSize });
    this.commands = new CommandHandler(site.commands?.token, {
      hasSwitch: (id) => this.currentEngine.topology.switchDevice(id) !== undefined,
      registerPlannedOutage: (planned) => {
        // Refused (thrown, and answered to the sender) when it starts within the notice lead time.
        const notices = this.notices.onPlannedRegistered(planned, this.clock.now());
        this.currentEngine.registerPlannedOutage(planned);
        // A registered planned outage is state: stored at once, so a restart keeps it.
        this.persist([]);
        this.publishNotices(notices);
      },
    });
    if (site.mqtt !== undefined) {
      this.mqtt = new MqttPublisher(site.mqtt, {
        siteId: site.siteId,
        logger: opts.logger,
        version: opts.version,
        retainedState: () => this.retainedState(),
        isActiveOutage: (id) => this.currentEngine.activeOutages().some((o) => o.id === id),
        onCommand: (name, payload) => this.commands.handle(name, payload),
      });
      this.sinks.push(this.mqtt);
    }
    if (site.influx !== undefined) {
      this.sinks.push(new InfluxPublisher(site.influx, { logger: opts.logger, devices: site.devices }));
    }
  }

  /** Whether some sink carries this kind (nothing is appended that no sink would take). */
  private carried(kind: string): boolean {
    return this.sinks.some((s) => s.kinds.has(kind as never));
  }

  get engine(): Engine {
    return this.currentEngine;
  }

  /** Called with every batch of domain events, once they are in the outbox (status page, tests). */
  onEvents(listener: (events: readonly DomainEvent[]) => void): void {
    this.eventListeners.push(listener);
  }

  /** Called with every poll batch, before the engine (metrics, status page, tests). */
  onReadings(listener: (deviceId: string, readings: readonly Reading[]) => void): void {
    this.readingListeners.push(listener);
  }

  async start(): Promise<void> {
    this.restoreState();
    const outbox = this.outbox;
    if (outbox === undefined) throw new Error('outbox not opened');
    this.drivers = await createDrivers(this.site, { clock: this.clock, logger: this.opts.logger });
    this.senders = this.sinks.map((sink) => new OutboxSender(outbox, sink, { clock: this.clock, logger: this.opts.logger }));
    for (const sender of this.senders) await sender.start();
    this.publishFeederStates();
    for (const driver of this.drivers) {
      await driver.start((readings) => {
        const deviceId = readings[0]?.deviceId;
        if (deviceId !== undefined) this.handleReadings(deviceId, readings);
      });
    }
    this.startedAt = this.clock.now();
    // Hold times in the engine run out between observations too.
    this.tickTimer = setInterval(() => this.tick(), 1000);
    // Year-to-date and rolling 12-month windows move with time: republish the indices hourly, and once now.
    if (this.reliability !== undefined) {
      this.publishReliability();
      this.reliabilityTimer = setInterval(() => this.publishReliability(), 3_600_000);
      this.reliabilityTimer.unref();
    }
    // The age bound also applies while nothing is appended.
    this.pruneTimer = setInterval(() => this.guarded('pruning the outbox', () => this.outbox?.prune()), 60_000);
    this.pruneTimer.unref();
    this.log.info('gateway started', {
      siteId: this.site.siteId,
      feeders: this.site.feeders.length,
      devices: this.site.devices.length,
      channels: this.drivers.length,
      sinks: this.sinks.map((p) => p.name).join(',') || 'none',
    });
  }

  private pruneTimer: NodeJS.Timeout | undefined;

  async stop(): Promise<void> {
    for (const driver of [...this.drivers].reverse()) await guard(() => driver.stop(), this.log, `stopping driver ${driver.id}`);
    for (const timer of [this.tickTimer, this.reliabilityTimer, this.feederStateTimer, this.pruneTimer, this.readingsTimer]) if (timer) clearTimeout(timer);
    this.tickTimer = this.reliabilityTimer = this.feederStateTimer = this.pruneTimer = this.readingsTimer = undefined;
    this.persist([]);
    this.appendReadings();
    // Give reachable sinks a moment to take what is left; the rest stays in the outbox (durable with persistence).
    await Promise.all(this.senders.map((sender) => sender.drain(this.opts.drainOnStopMs ?? 3000)));
    for (const sender of this.senders) sender.stop();
    for (const sink of [...this.sinks].reverse()) await guard(() => sink.stop(), this.log, `stopping ${sink.name}`);
    const left = this.sinkStatus().filter((s) => s.buffered > 0);
    if (left.length > 0) {
      const where = this.store !== undefined ? 'kept in the outbox, delivered after the next start' : 'LOST: the site runs without persistence';
      this.log.warn(`undelivered items at shutdown: ${where}`, Object.fromEntries(left.map((s) => [s.name, s.buffered])));
    }
    this.senders = [];
    if (this.store !== undefined) this.store.close();
    else this.outbox?.close();
    this.memoryDb?.close();
    this.memoryDb = undefined;
    this.outbox = undefined;
    this.store = undefined;
    this.reliability?.close();
    this.reliability = undefined;
    this.log.info('gateway stopped', { siteId: this.site.siteId });
  }

  /**
   * The engine with its self-healing recognizer. Switches with a device reporting their position are
   * telemetered; the others (fuses, manual switches) can only be inferred open by roll-up.
   */
  private newEngine(): Engine {
    const telemeteredSwitches = this.site.devices.flatMap((d) =>
      d.binds.switch !== undefined && d.points.some((p) => p.observe === 'switch.position') ? [d.binds.switch] : [],
    );
    return new Engine(this.site, {
      clock: this.clock,
      sequence: this.sequence,
      telemeteredSwitches,
      extensions: [new SelfHealingRecognizer(this.site)],
    });
  }

  /** Per sink: reachable, and what the outbox holds for it (health checks, metrics, the status page). */
  sinkStatus(): SinkStatus[] {
    let stats: ReturnType<Outbox['stats']> | undefined;
    try {
      stats = this.outbox?.stats();
    } catch {
      stats = undefined;
    }
    return this.sinks.map((sink) => {
      const s = stats?.sinks[sink.name];
      return {
        name: sink.name,
        reachable: sink.reachable,
        buffered: s?.buffered ?? 0,
        replayed: s?.replayed ?? 0,
        dropped: s === undefined ? 0 : s.dropped.bytes + s.dropped.age,
        ...(sink instanceof InfluxPublisher ? { refused: sink.getStats().refused } : {}),
      };
    });
  }

  /** The reliability indices last published (null: not computed yet, or the site keeps no history). */
  reliabilityReport(): ReliabilityReport | null {
    return this.lastReliability;
  }

  status(): GatewayStatus {
    return {
      siteId: this.site.siteId,
      startedAt: this.startedAt === null ? null : new Date(this.startedAt).toISOString(),
      activeOutages: this.engine.activeOutages(),
      devices: this.availability.snapshot(),
      eventsEmitted: this.eventsEmitted,
      stateFile: this.store?.file ?? null,
    };
  }

  /** The whole path of one poll batch. Each stage is guarded: a bad batch must not stop the gateway. */
  private handleReadings(deviceId: string, readings: Reading[]): void {
    for (const listener of this.readingListeners) {
      try {
        listener(deviceId, readings);
      } catch (err) {
        this.log.error('reading listener failed', { deviceId, err });
      }
    }
    this.queueReadings(deviceId, readings);
    const events: DomainEvent[] = [];
    const versionBefore = this.engine.stateVersion;
    try {
      const availabilityEvent = this.availability.observe(deviceId, readings);
      if (availabilityEvent !== null) events.push(availabilityEvent);
      const observations = this.pointMap.map(readings);
      if (observations.length > 0) events.push(...this.engine.apply(observations));
    } catch (err) {
      this.log.error('engine failed on a batch of readings; batch skipped', { deviceId, err });
    }
    const changed = this.engine.stateVersion !== versionBefore;
    if (events.length > 0 || changed) this.persist(events);
    if (events.length > 0) this.emit(events);
    if (changed) this.scheduleFeederStates();
  }

  private tick(): void {
    try {
      const events = this.engine.tick(this.clock.now());
      if (events.length > 0) {
        this.persist(events);
        this.emit(events);
        this.scheduleFeederStates();
      }
    } catch (err) {
      this.log.error('engine tick failed', { err });
    }
  }

  /**
   * Restores the stored state, if the site keeps one: before drivers and sinks start, so the first
   * observation after a restart meets the engine as it was and the first event continues the sequence.
   */
  private restoreState(): void {
    const persistence = this.site.persistence;
    const outboxOptions = {
      sinks: this.sinks.map((sink) => sink.name),
      sinkKinds: Object.fromEntries(this.sinks.map((sink) => [sink.name, [...sink.kinds]])),
      maxBytes: persistence?.outbox?.maxBytes,
      maxAgeMs: persistence?.outbox?.maxAgeMs,
      clock: this.clock,
    };
    if (persistence === undefined) {
      this.log.warn('running WITHOUT persistence (no `persistence:` in the site file): active outages, event sequence numbers and undelivered items start fresh at every restart');
      this.memoryDb = new Database(':memory:');
      this.outbox = Outbox.onDatabase(this.memoryDb, { logger: this.opts.logger, ...outboxOptions });
      for (const sink of outboxOptions.sinks) this.outbox.registerSink(sink, { kinds: outboxOptions.sinkKinds[sink] });
      return;
    }
    const store = StateStore.open(persistence.stateDir, { logger: this.opts.logger, outbox: outboxOptions });
    this.store = store;
    this.outbox = store.outbox;
    try {
      this.reliability = new ReliabilityService(this.site, persistence.stateDir, { clock: this.clock, logger: this.log });
    } catch (err) {
      this.log.error('reliability history unavailable; indices are not published', { err });
    }
    const stored = store.load();
    if (stored === null) {
      this.log.info('no stored state: starting fresh', { stateFile: store.file });
      return;
    }
    this.sequence.restore(stored.nextSeq);
    if (stored.engine !== null) {
      try {
        this.currentEngine.importState(stored.engine);
      } catch (err) {
        // A state this engine cannot take must not stop the gateway: set it aside, start the engine afresh.
        store.setAsideEngineState(JSON.stringify(stored.engine), `engine refused it: ${err instanceof Error ? err.message : String(err)}`);
        this.currentEngine = this.newEngine();
      }
    }
    const active = this.currentEngine.activeOutages();
    this.log.info('state restored', {
      stateFile: store.file,
      savedAt: stored.savedAt,
      nextSeq: stored.nextSeq,
      activeOutages: active.map((o) => o.id).join(',') || 'none',
      undelivered: Object.entries(store.outbox.stats().sinks)
        .map(([name, s]) => `${name}:${s.buffered}`)
        .join(','),
    });
  }

  /**
   * Saves engine state and next seq and appends these events to the outbox, in one transaction (before
   * anything sees them). Without persistence the events are only appended (to the in-memory outbox).
   */
  private persist(events: readonly DomainEvent[]): void {
    const items = this.carried('event') ? events.map(eventItem) : [];
    const store = this.store;
    if (store !== undefined) {
      try {
        store.save(this.engine.exportState(), this.sequence.peek(), items);
        if (items.length > 0) for (const sender of this.senders) sender.kick(true);
      } catch (err) {
        // Losing the events would be worse than risking a repeated seq after a later crash: append them alone.
        this.log.error('saving state failed; the events are appended to the outbox on their own', { err, fromSeq: events[0]?.seq });
        this.append(items, true);
      }
    } else {
      this.append(items, true);
    }
    if (events.length > 0 && this.reliability?.record(events) === true) this.reliabilityDirty = true;
  }

  /** Appends to the outbox and wakes the senders; a failure is logged (nothing else can hold the items). */
  private append(items: readonly OutboxInput[], urgent: boolean): void {
    if (items.length === 0 || this.outbox === undefined) return;
    try {
      this.outbox.append(items);
    } catch (err) {
      this.log.error('appending to the outbox failed; these items are lost', { err, items: items.length, kinds: [...new Set(items.map((i) => i.kind))].join(',') });
      return;
    }
    for (const sender of this.senders) sender.kick(urgent);
  }

  /** A poll's good values, for the sinks that keep telemetry; appended in batches (READINGS_APPEND_MS). */
  private queueReadings(deviceId: string, readings: readonly Reading[]): void {
    if (!this.carried('reading')) return;
    const values: Record<string, number> = {};
    let ts = 0;
    for (const r of readings) {
      if (r.quality === 'bad' || r.value === null || !Number.isFinite(r.value)) continue;
      values[r.point] = r.value;
      ts = Math.max(ts, r.sourceTs);
    }
    if (ts === 0) return;
    const record: ReadingsRecord = { deviceId, ts, values };
    this.pendingReadings.push({ kind: 'reading', key: deviceId, payload: JSON.stringify(record), ts });
    if (this.pendingReadings.length >= READINGS_APPEND_MAX) this.appendReadings();
    else this.readingsTimer ??= setTimeout(() => this.appendReadings(), READINGS_APPEND_MS);
  }

  private appendReadings(): void {
    if (this.readingsTimer) clearTimeout(this.readingsTimer);
    this.readingsTimer = undefined;
    const items = this.pendingReadings;
    this.pendingReadings = [];
    this.append(items, false);
  }

  private guarded(what: string, step: () => unknown): void {
    try {
      step();
    } catch (err) {
      this.log.error(`${what} failed`, { err });
    }
  }

  /** The retained topics' content, from the current state (the MQTT sink republishes it on every connect). */
  private retainedState(): RetainedState {
    return {
      activeOutages: this.engine.activeOutages(),
      devices: [...this.lastAvailability.values()],
      feederStates: this.engine.feederStates(this.clock.now()),
      selfHealing: [...this.lastSelfHealing.values()],
      reliability: this.lastReliability,
    };
  }

  private reliabilityDirty = false;

  private noticesFor(events: readonly DomainEvent[]): Notice[] {
    try {
      return this.notices.onEvents(events);
    } catch (err) {
      this.log.error('building customer notices failed', { err });
      return [];
    }
  }

  private publishNotices(notices: readonly Notice[]): void {
    if (notices.length === 0 || !this.carried('notice')) return;
    this.append(
      notices.map((n) => ({ kind: 'notice', key: n.noticeId, payload: JSON.stringify(n), ts: Date.parse(n.issuedAt) || this.clock.now() })),
      true,
    );
  }

  /** Publishes the reliability indices to the sinks that carry them. */
  private publishReliability(): void {
    if (this.reliability === undefined) return;
    this.reliabilityDirty = false;
    let report;
    try {
      report = this.reliability.report();
    } catch (err) {
      this.log.error('computing reliability indices failed', { err });
      return;
    }
    this.lastReliability = report;
    // MQTT: retained, live (republished on every connect); InfluxDB: a point series, through the outbox.
    this.guarded('publishing reliability on MQTT', () => this.mqtt?.publishReliability(report));
    if (this.carried('reliability')) this.append([{ kind: 'reliability', payload: JSON.stringify(report), ts: Date.parse(report.generatedAt) || this.clock.now() }], false);
  }

  private emit(events: DomainEvent[]): void {
    this.eventsEmitted += events.length;
    for (const event of events) {
      logEvent(this.log, event);
      if (event.type === 'device.availability') this.lastAvailability.set(event.deviceId, availabilityPayload(event));
      else if (event.type === 'selfHealing.progress' || event.type === 'selfHealing.completed') this.lastSelfHealing.set(event.report.feederId, event.report);
    }
    this.publishNotices(this.noticesFor(events));
    if (this.reliabilityDirty) this.publishReliability();
    for (const listener of this.eventListeners) {
      try {
        listener(events);
      } catch (err) {
        this.log.error('event listener failed', { err });
      }
    }
  }

  private scheduleFeederStates(): void {
    if (this.feederStateTimer !== undefined) return;
    this.feederStateTimer = setTimeout(() => {
      this.feederStateTimer = undefined;
      this.publishFeederStates();
    }, this.opts.feederStateThrottleMs ?? 200);
  }

  /** Appends the feeder states that changed since the last ones appended (energization or positions). */
  private publishFeederStates(): void {
    if (!this.carried('feederState')) return;
    let states: FeederState[];
    try {
      states = this.engine.feederStates(this.clock.now());
    } catch (err) {
      this.log.error('computing feeder states failed', { err });
      return;
    }
    const items: OutboxInput[] = [];
    for (const state of states) {
      const key = JSON.stringify({ ...state, ts: undefined });
      if (this.lastFeederStates.get(state.feederId) === key) continue;
      this.lastFeederStates.set(state.feederId, key);
      items.push({ kind: 'feederState', key: state.feederId, payload: JSON.stringify(state), ts: Date.parse(state.ts) || this.clock.now() });
    }
    this.append(items, true);
  }
}

async function guard(step: () => Promise<void>, log: Logger, what: string): Promise<void> {
  try {
    await step();
  } catch (err) {
    log.error(`${what} failed`, { err });
  }
}
