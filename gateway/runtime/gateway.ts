/**
 * The composition root of a running gateway: drivers -> point map -> engine -> publishers.
 * Start order: publishers (so nothing the engine says is lost), engine, drivers. Stop in reverse:
 * drivers first (no new readings), then publishers flush, so every accepted event is handed on.
 *
 * Persistence (when the site has `persistence:`): the stored state is restored before anything starts (the
 * event sequence continues, active outages continue with their ids and start times, nothing is published
 * again for them), and every batch that emitted events or changed the engine's state is saved in one
 * transaction BEFORE its events are published: no event goes out with a sequence number the store does not
 * know, so a restart (even after kill -9) never reuses one. Events stored but not confirmed by the broker are
 * sent again at start (at least once; consumers drop a repeated `seq`).
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
import { MqttPublisher } from '../publish/mqtt-publisher.js';
import type { Publisher } from '../publish/publisher.js';
import type { SinkStatus } from '../publish/sink-status.js';
import type { Driver, Reading } from '../../drivers/reading.js';
import { createDrivers } from './driver-factory.js';
import { StateStore } from './state-store.js';
import { AvailabilityTracker, type AvailabilitySnapshot } from './availability.js';
import { PointMap } from './point-map.js';

export interface GatewayOptions {
  logger: Logger;
  version: string;
  clock?: Clock;
  /** How often at most the retained feeder state is recomputed after switch observations. */
  feederStateThrottleMs?: number;
}

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
  readonly publishers: Publisher[] = [];
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
  /** Events restored from the store that the broker never confirmed: published again once publishers run. */
  private replay: DomainEvent[] = [];
  /** Delivery confirmations: every seq up to `deliveredUpTo` is confirmed; `deliveredAbove` holds later ones. */
  private deliveredUpTo = 0;
  private readonly deliveredAbove = new Set<number>();
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
      this.publishers.push(
        new MqttPublisher(site.mqtt, {
          siteId: site.siteId,
          logger: opts.logger,
          version: opts.version,
          onEventDelivered: (seq) => this.delivered(seq),
          isActiveOutage: (id) => this.currentEngine.activeOutages().some((o) => o.id === id),
          onCommand: (name, payload) => this.commands.handle(name, payload),
        }),
      );
    }
    if (site.influx !== undefined) {
      this.publishers.push(new InfluxPublisher(site.influx, { logger: opts.logger, devices: site.devices }));
    }
  }

  get engine(): Engine {
    return this.currentEngine;
  }

  /** Called with every batch of domain events, after the publishers (status page, tests). */
  onEvents(listener: (events: readonly DomainEvent[]) => void): void {
    this.eventListeners.push(listener);
  }

  /** Called with every poll batch, before the engine (metrics, status page, tests). */
  onReadings(listener: (deviceId: string, readings: readonly Reading[]) => void): void {
    this.readingListeners.push(listener);
  }

  async start(): Promise<void> {
    this.restoreState();
    this.drivers = await createDrivers(this.site, { clock: this.clock, logger: this.opts.logger });
    for (const publisher of this.publishers) await publisher.start();
    if (this.replay.length > 0) {
      this.log.warn('publishing again events stored before the restart but not confirmed delivered', {
        count: this.replay.length,
        fromSeq: this.replay[0]?.seq,
        toSeq: this.replay[this.replay.length - 1]?.seq,
      });
      this.publish(this.replay);
      this.replay = [];
    }
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
    this.log.info('gateway started', {
      siteId: this.site.siteId,
      feeders: this.site.feeders.length,
      devices: this.drivers.length,
      publishers: this.publishers.map((p) => p.name).join(',') || 'none',
    });
  }

  async stop(): Promise<void> {
    for (const driver of [...this.drivers].reverse()) await guard(() => driver.stop(), this.log, `stopping driver ${driver.id}`);
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.tickTimer = undefined;
    if (this.reliabilityTimer) clearInterval(this.reliabilityTimer);
    this.reliabilityTimer = undefined;
    if (this.feederStateTimer) clearTimeout(this.feederStateTimer);
    this.feederStateTimer = undefined;
    this.persist([]);
    for (const publisher of [...this.publishers].reverse()) await guard(() => publisher.stop(), this.log, `stopping ${publisher.name}`);
    this.store?.close();
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

  /** Per sink: reachable, and what is buffered for it (health checks, metrics, the status page). */
  sinkStatus(): SinkStatus[] {
    return this.publishers.map((p) => {
      if (p instanceof InfluxPublisher) {
        const s = p.getStats();
        return { name: p.name, reachable: s.reachable, buffered: s.buffered, replayed: 0, dropped: s.dropped };
      }
      return { name: p.name, reachable: p instanceof MqttPublisher ? p.connected : true, buffered: 0, replayed: 0, dropped: 0 };
    });
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
    for (const publisher of this.publishers) {
      try {
        publisher.publishReadings(deviceId, readings);
      } catch (err) {
        this.log.error('publisher failed on readings', { publisher: publisher.name, deviceId, err });
      }
    }
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
   * Restores the stored state, if the site keeps one: before drivers and publishers start, so the first
   * observation after a restart meets the engine as it was and the first event continues the sequence.
   */
  private restoreState(): void {
    const persistence = this.site.persistence;
    if (persistence === undefined) {
      this.log.warn('running WITHOUT persistence (no `persistence:` in the site file): active outages and event sequence numbers start fresh at every restart');
      return;
    }
    const store = StateStore.open(persistence.stateDir, { logger: this.opts.logger });
    this.store = store;
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
    this.replay = stored.pendingEvents.filter((e) => e.seq > stored.lastPublishedSeq);
    this.deliveredUpTo = Math.min(stored.nextSeq - 1, (this.replay[0]?.seq ?? stored.nextSeq) - 1);
    const active = this.currentEngine.activeOutages();
    this.log.info('state restored', {
      stateFile: store.file,
      savedAt: stored.savedAt,
      nextSeq: stored.nextSeq,
      activeOutages: active.map((o) => o.id).join(',') || 'none',
      undelivered: this.replay.length,
    });
  }

  /** Saves engine state, next seq and these events in one transaction (before they are published). */
  private persist(events: readonly DomainEvent[]): void {
    const store = this.store;
    if (store === undefined) return;
    try {
      store.save(this.engine.exportState(), this.sequence.peek(), events);
    } catch (err) {
      // Losing the events would be worse than risking a repeated seq after a later crash: publish anyway.
      this.log.error('saving state failed; events are published anyway', { err, fromSeq: events[0]?.seq });
    }
    if (events.length > 0 && this.reliability?.record(events) === true) this.reliabilityDirty = true;
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
    if (notices.length === 0) return;
    for (const publisher of this.publishers) {
      try {
        publisher.publishNotices?.(notices);
      } catch (err) {
        this.log.error('publisher failed on notices', { publisher: publisher.name, err });
      }
    }
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
    for (const publisher of this.publishers) {
      try {
        publisher.publishReliability?.(report);
      } catch (err) {
        this.log.error('publisher failed on reliability', { publisher: publisher.name, err });
      }
    }
  }

  /** The broker confirmed event `seq`: advance the contiguous watermark and record it. */
  private delivered(seq: number): void {
    if (this.store === undefined || seq <= this.deliveredUpTo) return;
    this.deliveredAbove.add(seq);
    const before = this.deliveredUpTo;
    while (this.deliveredAbove.delete(this.deliveredUpTo + 1)) this.deliveredUpTo++;
    if (this.deliveredUpTo === before) return;
    try {
      this.store?.markPublished(this.deliveredUpTo);
    } catch (err) {
      this.log.warn('recording delivered events failed', { seq: this.deliveredUpTo, err });
    }
  }

  private publish(events: readonly DomainEvent[]): void {
    for (const publisher of this.publishers) {
      try {
        publisher.publishEvents(events);
      } catch (err) {
        this.log.error('publisher failed on events', { publisher: publisher.name, err });
      }
    }
    // Without MQTT nothing confirms delivery: handing the events on is all there is.
    if (this.site.mqtt === undefined) for (const event of events) this.delivered(event.seq);
  }

  private emit(events: DomainEvent[]): void {
    this.eventsEmitted += events.length;
    for (const event of events) logEvent(this.log, event);
    this.publish(events);
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

  private publishFeederStates(): void {
    const states = this.engine.feederStates(this.clock.now());
    for (const publisher of this.publishers) {
      try {
        publisher.publishFeederStates(states);
      } catch (err) {
        this.log.error('publisher failed on feeder state', { publisher: publisher.name, err });
      }
    }
  }
}

function logEvent(log: Logger, event: DomainEvent): void {
  switch (event.type) {
    case 'outage.started':
      log.warn('outage started', summary(event.outage));
      break;
    case 'outage.updated':
      log.info('outage updated', summary(event.outage));
      break;
    case 'outage.restored':
      log.info('outage restored', { ...summary(event.outage), durationS: (event.outage.durationMs ?? 0) / 1000 });
      break;
    case 'selfHealing.progress':
      log.info('self-healing in progress', { feederId: event.report.feederId, kind: event.report.kind, faultSection: event.report.faultSection, steps: event.report.steps.length });
      break;
    case 'selfHealing.completed': {
      const r = event.report;
      log.warn('self-healing completed', {
        feederId: r.feederId,
        kind: r.kind,
        outcome: r.outcome,
        faultSection: r.faultSection,
        isolatingDevices: r.isolatingDevices.join(','),
        restoredUpstream: r.restoredUpstream.customers.length,
        restoredByTransfer: r.restoredByTransfer.reduce((n, x) => n + x.customers.length, 0),
        stillOut: r.stillOut.customers.length,
        durationS: (r.durationMs ?? 0) / 1000,
      });
      break;
    }
    case 'device.availability':
      if (event.state === 'offline') log.warn('device offline', { deviceId: event.deviceId, error: event.error, lastGoodAt: event.lastGoodAt });
      else if (event.state === 'degraded') log.warn('device degraded: part of its points fail', { deviceId: event.deviceId, error: event.error });
      // A device answering for the first time is routine; one coming back after being offline is news.
      else log[event.previousState === 'unknown' ? 'debug' : 'info']('device back online', { deviceId: event.deviceId });
      break;
  }
}

function summary(o: Outage): Record<string, unknown> {
  return {
    outageId: o.id,
    cause: o.cause,
    causeDevice: o.causeDevice,
    faultSection: o.faultSection,
    sections: o.currentSections.join(','),
    customersOut: o.currentCustomerCount,
    customersAffected: o.customerCount,
  };
}

async function guard(step: () => Promise<void>, log: Logger, what: string): Promise<void> {
  try {
    await step();
  } catch (err) {
    log.error(`${what} failed`, { err });
  }
}
