/**
 * The engine: observations in, domain events out. Pure and deterministic: no I/O, no wall clock (event
 * times come from the observations; the injected clock only supplies a default snapshot time), so any
 * scenario can be replayed in a unit test and gives the same events, ids and sequence numbers.
 *
 * Work per observation is proportional to what it changes (the sections that flip, the customers of one
 * transformer, the active outages), never to the size of the network.
 */
import type { Clock } from '../clock.js';
import type { SiteConfig } from '../config/site-config.js';
import { Energization } from './energization.js';
import type { DomainEvent, FeederState, Outage } from './events.js';
import { MeterOutageTracker } from './meter-outage-tracker.js';
import type { Observation } from './observation.js';
import { OutageIds } from './outage-ids.js';
import { isoTime, type OutageChange, type OutageRecord } from './outage-record.js';
import { OutageTracker } from './outage-tracker.js';
import type { EventSequence } from './sequence.js';
import { Topology } from './topology.js';

export interface EngineOptions {
  clock: Clock;
  sequence: EventSequence;
}

interface PendingLoss {
  sinceMs: number;
  volts: number;
  sectionId: string;
  sectionChanges: number;
}

/** The latest time a JS Date can hold; later observation times are rejected rather than crash isoTime. */
const MAX_TIME_MS = 8.64e15;

export class Engine {
  readonly topology: Topology;
  private readonly energization: Energization;
  private readonly switchingOutages: OutageTracker;
  private readonly meterOutages: MeterOutageTracker;
  private readonly clock: Clock;
  private readonly sequence: EventSequence;
  private ignored = 0;
  /** Customers whose meter reported a loss while their section was energized, by when it was first seen. */
  private readonly pendingLoss = new Map<string, PendingLoss>();
  /** How many times each section changed state: a held loss is confirmed only if its section never changed. */
  private readonly sectionChanges = new Map<string, number>();
  private version = 0;
  private readonly lossHoldMs: number;

  constructor(site: SiteConfig, opts: EngineOptions) {
    this.clock = opts.clock;
    this.sequence = opts.sequence;
    this.topology = new Topology(site);
    this.energization = new Energization(this.topology);
    const ids = new OutageIds(site.siteId);
    this.switchingOutages = new OutageTracker(this.topology, ids);
    this.meterOutages = new MeterOutageTracker(this.topology, ids, site.thresholds.meterVoltageLossV);
    this.voltageLossV = site.thresholds.meterVoltageLossV;
    this.lossHoldMs = site.thresholds.meterLossHoldMs;
  }

  private readonly voltageLossV: number;

  /**
   * Lets time pass without an observation: meter losses whose hold time has run out by `nowMs` become
   * outages. The runtime calls it periodically with its clock; replays call it with the replay's time.
   */
  tick(nowMs: number): DomainEvent[] {
    const events: DomainEvent[] = [];
    for (const [customerId, pending] of this.pendingLoss) {
      if (nowMs - pending.sinceMs < this.lossHoldMs) continue;
      for (const change of this.confirmLoss(customerId, pending)) events.push(this.toEvent(change));
    }
    return events;
  }

  /**
   * Increases whenever energization or a reported switch position changed: publishers recompute feeder
   * state only when it moved, not on every poll.
   */
  get stateVersion(): number {
    return this.version;
  }

  /** Number of meter losses waiting for their hold time (for tests and metrics). */
  get pendingMeterLosses(): number {
    return this.pendingLoss.size;
  }

  /** Observations about unknown ids, or with a timestamp or value that is not a finite number. */
  get ignoredObservations(): number {
    return this.ignored;
  }

  /** Processes observations in the order given and returns the events they caused, in order. */
  apply(observations: readonly Observation[]): DomainEvent[] {
    const events: DomainEvent[] = [];
    for (const observation of observations) {
      const changes = this.applyOne(observation);
      if (changes === null) {
        this.ignored++;
        continue;
      }
      for (const change of changes) events.push(this.toEvent(change));
    }
    return events;
  }

  isEnergized(sectionId: string): boolean {
    return this.energization.isEnergized(sectionId);
  }

  /** Active outages, oldest first (ties broken by id). */
  activeOutages(): Outage[] {
    const records: OutageRecord[] = [
      ...this.switchingOutages.activeOutages(),
      ...this.meterOutages.activeOutages().map((o) => o.record),
    ];
    records.sort((a, b) => a.startedAtMs - b.startedAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return records.map((r) => r.snapshot());
  }

  /** Energization snapshot per feeder. Costs the size of the site: for periodic publishing, not per event. */
  feederStates(ts: number = this.clock.now()): FeederState[] {
    const meterOutByFeeder = new Map<string, number>();
    for (const outage of this.meterOutages.activeOutages()) {
      const transformer = this.topology.transformer(outage.transformerId)!;
      // Customers on a dark section are already counted with it.
      if (!this.energization.isEnergized(transformer.sectionId)) continue;
      meterOutByFeeder.set(transformer.feederId, (meterOutByFeeder.get(transformer.feederId) ?? 0) + outage.out.size);
    }
    const states: FeederState[] = [];
    for (const feederId of this.topology.feederIds()) {
      const feeder = this.topology.feeder(feederId)!;
      const energizedSections: string[] = [];
      const deenergizedSections: string[] = [];
      let customersOut = meterOutByFeeder.get(feederId) ?? 0;
      for (const sectionId of feeder.sections) {
        if (this.energization.isEnergized(sectionId)) {
          energizedSections.push(sectionId);
        } else {
          deenergizedSections.push(sectionId);
          customersOut += this.topology.section(sectionId)!.customers.length;
        }
      }
      const switches: Record<string, 'open' | 'closed' | 'unknown'> = {};
      for (const switchId of [...feeder.switches].sort()) {
        switches[switchId] = this.energization.reportedPosition(switchId) ?? 'unknown';
      }
      states.push({
        feederId,
        ts: isoTime(ts),
        energizedSections: energizedSections.sort(),
        deenergizedSections: deenergizedSections.sort(),
        switches,
        customersOut,
      });
    }
    return states;
  }

  /** The outage changes an observation causes, or null when it must be ignored. */
  private applyOne(observation: Observation): OutageChange[] | null {
    const ts = observation.ts;
    if (!Number.isFinite(ts) || Math.abs(ts) > MAX_TIME_MS) return null;
    switch (observation.kind) {
      case 'switch.position': {
        if (!this.topology.switchDevice(observation.switchId)) return null;
        const reportedBefore = this.energization.reportedPosition(observation.switchId);
        const change = this.energization.setSwitch(observation.switchId, observation.position);
        if (reportedBefore !== this.energization.reportedPosition(observation.switchId)) this.version++;
        for (const id of change.energized) this.sectionChanges.set(id, (this.sectionChanges.get(id) ?? 0) + 1);
        for (const id of change.deenergized) this.sectionChanges.set(id, (this.sectionChanges.get(id) ?? 0) + 1);
        if (change.energized.length > 0 || change.deenergized.length > 0) this.version++;
        const changes: OutageChange[] = [];
        if (change.deenergized.length > 0) {
          changes.push(...this.switchingOutages.onDeenergized(change.deenergized, observation.switchId, ts));
        }
        if (change.energized.length > 0) {
          this.meterOutages.forgetReadings(change.energized);
          changes.push(...this.switchingOutages.onEnergized(change.energized, ts));
        }
        return changes;
      }
      case 'switch.faultFlag':
        if (!this.topology.switchDevice(observation.switchId)) return null;
        return this.switchingOutages.setFaultFlag(observation.switchId, observation.fault, ts);
      case 'meter.voltage': {
        const transformer = this.topology.transformerOf(observation.customerId);
        if (!transformer || !Number.isFinite(observation.volts)) return null;
        const energized = this.energization.isEnergized(transformer.sectionId);
        const loss = observation.volts < this.voltageLossV;
        if (!loss || !energized || this.lossHoldMs === 0) {
          this.pendingLoss.delete(observation.customerId);
          return this.meterOutages.onVoltage(observation.customerId, observation.volts, ts, energized);
        }
        // A loss under an energized section waits for the hold time: the switch that explains it may not
        // have been polled yet.
        const pending = this.pendingLoss.get(observation.customerId);
        const sectionChanges = this.sectionChanges.get(transformer.sectionId) ?? 0;
        if (pending === undefined || pending.sectionChanges !== sectionChanges) {
          // First loss, or the section went dark and came back since: the hold starts (again) now.
          this.pendingLoss.set(observation.customerId, { sinceMs: ts, volts: observation.volts, sectionId: transformer.sectionId, sectionChanges });
          return [];
        }
        pending.volts = observation.volts;
        return ts - pending.sinceMs >= this.lossHoldMs ? this.confirmLoss(observation.customerId, pending) : [];
      }
      case 'switch.lockout':
      case 'switch.voltagePresent':
        // Evidence for self-healing recognition and fusion (not used by the first version's outage rules).
        return this.topology.switchDevice(observation.switchId) ? [] : null;
      case 'transformer.voltage':
        return this.topology.transformer(observation.transformerId) ? [] : null;
      case 'meter.reachable':
        // An unreachable meter is a communication fault, never evidence of an outage.
        return this.topology.transformerOf(observation.customerId) ? [] : null;
      default:
        return null;
    }
  }

  /** The hold time ran out: if the section is still energized the loss is an outage from when it was first seen. */
  private confirmLoss(customerId: string, pending: PendingLoss): OutageChange[] {
    this.pendingLoss.delete(customerId);
    // A trip (even a momentary one, reclosed within the hold) explains the loss: no meter outage.
    if ((this.sectionChanges.get(pending.sectionId) ?? 0) !== pending.sectionChanges) return [];
    if (!this.energization.isEnergized(pending.sectionId)) return [];
    return this.meterOutages.onVoltage(customerId, pending.volts, pending.sinceMs, true);
  }

  private toEvent(change: OutageChange): DomainEvent {
    return { ...this.sequence.next(), ts: isoTime(change.atMs), type: change.type, outage: change.outage };
  }
}
