/**
 * The engine: observations in, domain events out. Pure and deterministic: no I/O, no wall clock (event
 * times come from the observations; the injected clock only supplies a default snapshot time), so any
 * scenario can be replayed in a unit test and gives the same events, ids and sequence numbers.
 *
 * Work per observation is proportional to what it changes (the sections that flip, the customers of one
 * transformer, the active outages), never to the size of the network.
 */
import type { Clock } from '../clock.js';
import type { PlannedOutageConfig, SiteConfig, SwitchState } from '../config/site-config.js';
import type { EngineContext, EngineExtension, ExtensionEvent } from './engine-hooks.js';
import type { EngineState } from './engine-state.js';
import { Energization, type EnergizationChange } from './energization.js';
import type { DomainEvent, FeederState, Outage } from './events.js';
import { MeterOutageTracker, type MeterOutageTrackerState } from './meter-outage-tracker.js';
import type { Observation } from './observation.js';
import { OutageIds } from './outage-ids.js';
import { isoTime, type OutageChange, type OutageRecord } from './outage-record.js';
import { OutageTracker, type OutageTrackerState, type TrackerHooks } from './outage-tracker.js';
import type { EventSequence } from './sequence.js';
import { Topology, type TransformerInfo } from './topology.js';

export interface EngineOptions {
  clock: Clock;
  sequence: EventSequence;
  /**
   * Switching devices some device reports on (from the point maps). Devices not listed, and fuses, are
   * untelemetered: outages roll up to them. When absent, only fuses are untelemetered, and a device that
   * reports a position becomes telemetered.
   */
  telemeteredSwitches?: readonly string[];
  /** Hosted extensions (the self-healing recognizer), called after the engine for every observation. */
  extensions?: readonly EngineExtension[];
}

type PendingKind = 'voltage' | 'silent' | 'ttu' | 'recheck';

interface PendingLoss {
  kind: PendingKind;
  /** Customer (voltage, silent) or transformer (ttu, recheck). */
  subject: string;
  sinceMs: number;
  volts: number;
  sectionId: string;
  sectionChanges: number;
}

/** `EngineState.outages` as this engine writes it. */
export interface EngineOutagesState {
  switching: OutageTrackerState;
  meter: MeterOutageTrackerState;
  pending: PendingLoss[];
  sectionChanges: Array<[string, number]>;
  lastEnergizedMs: Array<[string, number]>;
  inferredOpen: string[];
  telemetered: string[];
  lastObservationMs: number;
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
  /** Losses (meter readings, silent meters, TTU readings) waiting for the hold time, by `<kind>:<subject>`. */
  private readonly pendingLoss = new Map<string, PendingLoss>();
  /** How many times each section changed state: a held loss is confirmed only if its section never changed. */
  private readonly sectionChanges = new Map<string, number>();
  /** When each section was last energized (after being dark). */
  private readonly lastEnergizedMs = new Map<string, number>();
  private version = 0;
  private readonly lossHoldMs: number;
  private readonly voltageLossV: number;
  private readonly momentaryThresholdMs: number;
  private readonly telemeteredOption: ReadonlySet<string> | null;
  /** Devices that reported a position (telemetered, when no list was given). */
  private readonly telemeteredSeen = new Set<string>();
  /** Untelemetered devices presumed open by roll-up. */
  private readonly inferredOpen = new Set<string>();
  private readonly planned = new Map<string, { config: PlannedOutageConfig; startMs: number; endMs: number }>();
  private readonly extensions: readonly EngineExtension[];
  private readonly context: EngineContext;

  constructor(site: SiteConfig, opts: EngineOptions) {
    this.clock = opts.clock;
    this.sequence = opts.sequence;
    this.topology = new Topology(site);
    this.energization = new Energization(this.topology);
    this.voltageLossV = site.thresholds.meterVoltageLossV;
    this.lossHoldMs = site.thresholds.meterLossHoldMs;
    this.momentaryThresholdMs = site.thresholds.momentaryThresholdMs;
    this.telemeteredOption = opts.telemeteredSwitches ? new Set(opts.telemeteredSwitches) : null;
    this.extensions = opts.extensions ?? [];
    const ids = new OutageIds(site.siteId);
    const hooks: TrackerHooks = {
      momentaryThresholdMs: this.momentaryThresholdMs,
      onStart: (record) => this.classifyPlanned(record),
    };
    this.switchingOutages = new OutageTracker(this.topology, ids, hooks);
    this.meterOutages = new MeterOutageTracker(this.topology, ids, this.voltageLossV, site.thresholds.transformerOutShare, hooks);
    for (const p of site.plannedOutages ?? []) this.registerPlannedOutage(p);
    this.context = {
      topology: this.topology,
      isEnergized: (id) => this.energization.isEnergized(id),
      position: (id) => this.energization.position(id),
      activeOutages: () => this.activeOutages(),
    };
  }

  /**
   * Registers a planned (pre-arranged) outage: an outage caused by one of `p.devices` opening within
   * [start, end] is classified `planned`. Registering the same id again replaces it.
   */
  registerPlannedOutage(p: PlannedOutageConfig): void {
    const startMs = Date.parse(p.start);
    const endMs = Date.parse(p.end);
    if (!Number.isFinite(startMs) || !Number.isFinite(endMs)) throw new Error(`planned outage ${p.id}: bad start or end`);
    this.planned.set(p.id, { config: { ...p, devices: [...p.devices] }, startMs, endMs });
  }

  plannedOutages(): PlannedOutageConfig[] {
    return [...this.planned.values()].map((p) => ({ ...p.config, devices: [...p.config.devices] }));
  }

  /**
   * Lets time pass without an observation: losses whose hold time has run out by `nowMs` are decided.
   * The runtime calls it periodically with its clock; replays call it with the replay's time.
   */
  tick(nowMs: number): DomainEvent[] {
    const events: DomainEvent[] = [];
    for (const [key, pending] of [...this.pendingLoss]) {
      if (nowMs - pending.sinceMs < this.lossHoldMs) continue;
      if (this.pendingLoss.get(key) !== pending) continue;
      for (const change of this.confirmLoss(key, pending, nowMs)) events.push(this.toEvent(change));
    }
    for (const ext of this.extensions) for (const e of ext.tick(nowMs, this.context)) events.push(this.toExtensionEvent(e));
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
      this.lastChange = null;
      const changes = this.applyOne(observation);
      if (changes === null) {
        this.ignored++;
        continue;
      }
      for (const change of changes) events.push(this.toEvent(change));
      for (const ext of this.extensions) {
        for (const e of ext.observe(observation, this.lastChange, this.context)) events.push(this.toExtensionEvent(e));
      }
    }
    return events;
  }

  /** Energization change of the observation being applied (switch.position only), for extensions. */
  private lastChange: EnergizationChange | null = null;

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
    if (ts > this.lastObservationMs) this.lastObservationMs = ts;
    switch (observation.kind) {
      case 'switch.position': {
        if (!this.topology.switchDevice(observation.switchId)) return null;
        if (observation.position === 'open' || observation.position === 'closed') {
          this.telemeteredSeen.add(observation.switchId);
          // Seen for real: no longer a presumption.
          this.inferredOpen.delete(observation.switchId);
        }
        const reportedBefore = this.energization.reportedPosition(observation.switchId);
        const change = this.energization.setSwitch(observation.switchId, observation.position);
        if (reportedBefore !== this.energization.reportedPosition(observation.switchId)) this.version++;
        this.lastChange = change;
        return this.afterSwitchChange(observation.switchId, change, ts, {});
      }
      case 'switch.faultFlag':
        if (!this.topology.switchDevice(observation.switchId)) return null;
        return this.switchingOutages.setFaultFlag(observation.switchId, observation.fault, ts, observation.phases);
      case 'switch.lockout':
        if (!this.topology.switchDevice(observation.switchId)) return null;
        return this.switchingOutages.setLockout(observation.switchId, observation.lockedOut, ts);
      case 'switch.voltagePresent':
        if (!this.topology.switchDevice(observation.switchId)) return null;
        return observation.present ? [] : this.switchingOutages.voltageAbsent(observation.switchId, observation.side, ts);
      case 'meter.voltage': {
        const transformer = this.topology.transformerOf(observation.customerId);
        if (!transformer || !Number.isFinite(observation.volts)) return null;
        const loss = observation.volts < this.voltageLossV;
        const changes: OutageChange[] = loss ? [] : this.signOfLife(transformer, ts);
        const energized = this.energization.isEnergized(transformer.sectionId);
        const key = `voltage:${observation.customerId}`;
        if (!loss || !energized || this.lossHoldMs === 0) {
          this.pendingLoss.delete(key);
          changes.push(...this.meterOutages.onVoltage(observation.customerId, observation.volts, ts, energized));
          if (loss && energized) changes.push(...this.afterTransformerChange(transformer, ts));
          return changes;
        }
        // A loss under an energized section waits for the hold time: the switch that explains it may not
        // have been polled yet.
        return this.hold(key, 'voltage', observation.customerId, transformer, observation.volts, ts);
      }
      case 'meter.reachable': {
        const transformer = this.topology.transformerOf(observation.customerId);
        if (!transformer) return null;
        if (observation.reachable) {
          this.pendingLoss.delete(`silent:${observation.customerId}`);
          const changes = this.meterOutages.isSilent(observation.customerId) ? this.signOfLife(transformer, ts) : [];
          changes.push(...this.meterOutages.onReachable(observation.customerId, true, ts));
          return changes;
        }
        // A silent meter alone is a communication fault; it only counts toward its transformer's share.
        if (this.meterOutages.isSilent(observation.customerId)) return [];
        this.meterOutages.onReachable(observation.customerId, false, ts);
        if (!this.energization.isEnergized(transformer.sectionId)) return [];
        const key = `silent:${observation.customerId}`;
        if (this.lossHoldMs === 0) return this.decideTransformer(transformer, ts, ts);
        return this.hold(key, 'silent', observation.customerId, transformer, 0, ts);
      }
      case 'transformer.voltage': {
        const transformer = this.topology.transformer(observation.transformerId);
        if (!transformer || !Number.isFinite(observation.volts)) return null;
        const key = `ttu:${transformer.id}`;
        const energized = this.energization.isEnergized(transformer.sectionId);
        if (observation.volts >= this.voltageLossV) {
          this.pendingLoss.delete(key);
          const changes = this.signOfLife(transformer, ts);
          changes.push(...this.meterOutages.onTransformerVoltage(transformer, observation.volts, ts, ts, energized));
          return changes;
        }
        if (!energized) return [];
        if (this.lossHoldMs === 0) {
          return [...this.meterOutages.onTransformerVoltage(transformer, observation.volts, ts, ts, true), ...this.afterTransformerChange(transformer, ts)];
        }
        return this.hold(key, 'ttu', transformer.id, transformer, observation.volts, ts);
      }
      default:
        return null;
    }
  }

  /** Starts (or continues) the hold of a loss; decides at once if it is already held long enough. */
  private hold(key: string, kind: PendingKind, subject: string, transformer: TransformerInfo, volts: number, ts: number): OutageChange[] {
    const pending = this.pendingLoss.get(key);
    const sectionChanges = this.sectionChanges.get(transformer.sectionId) ?? 0;
    if (pending === undefined || pending.sectionChanges !== sectionChanges) {
      // First loss, or the section went dark and came back since: the hold starts (again) now.
      this.pendingLoss.set(key, { kind, subject, sinceMs: ts, volts, sectionId: transformer.sectionId, sectionChanges });
      return [];
    }
    pending.volts = volts;
    return ts - pending.sinceMs >= this.lossHoldMs ? this.confirmLoss(key, pending, ts) : [];
  }

  /** The hold time ran out: if the section is still energized the loss counts from when it was first seen. */
  private confirmLoss(key: string, pending: PendingLoss, nowMs: number): OutageChange[] {
    this.pendingLoss.delete(key);
    // A trip (even a momentary one, reclosed within the hold) explains the loss: no meter outage.
    if ((this.sectionChanges.get(pending.sectionId) ?? 0) !== pending.sectionChanges) return [];
    if (!this.energization.isEnergized(pending.sectionId)) return [];
    switch (pending.kind) {
      case 'voltage': {
        const transformer = this.topology.transformerOf(pending.subject)!;
        const changes = this.meterOutages.onVoltage(pending.subject, pending.volts, pending.sinceMs, true);
        changes.push(...this.afterTransformerChange(transformer, nowMs));
        return changes;
      }
      case 'silent': {
        if (!this.meterOutages.isSilent(pending.subject)) return [];
        const transformer = this.topology.transformerOf(pending.subject)!;
        return this.decideTransformer(transformer, nowMs, pending.sinceMs);
      }
      case 'recheck':
        return this.decideTransformer(this.topology.transformer(pending.subject)!, nowMs, pending.sinceMs);
      case 'ttu': {
        const transformer = this.topology.transformer(pending.subject)!;
        return [
          ...this.meterOutages.onTransformerVoltage(transformer, pending.volts, pending.sinceMs, pending.sinceMs, true),
          ...this.afterTransformerChange(transformer, nowMs),
        ];
      }
    }
  }

  /** Whether the silent and lost meters of a transformer make it out (share rule), then roll-up. */
  private decideTransformer(transformer: TransformerInfo, nowMs: number, sinceMs: number): OutageChange[] {
    if (!this.energization.isEnergized(transformer.sectionId)) return [];
    let start = sinceMs;
    for (const c of this.meterOutages.silentCustomers(transformer)) {
      const pending = this.pendingLoss.get(`silent:${c}`);
      if (pending) this.pendingLoss.delete(`silent:${c}`);
    }
    const energizedAt = this.lastEnergizedMs.get(transformer.sectionId);
    if (energizedAt !== undefined) start = Math.max(start, energizedAt);
    // Stamped with the observation that decided it (the silence or loss that reached the share), like a held
    // 0 V reading: an event's `ts` is the time of its cause, not of the tick that ran out the hold (docs/mqtt.md).
    const decidedAt = Math.min(start, nowMs);
    const changes = this.meterOutages.evaluate(transformer, decidedAt, decidedAt);
    changes.push(...this.afterTransformerChange(transformer, nowMs));
    return changes;
  }

  /**
   * A transformer's outage may have grown to the whole transformer: when every transformer below the
   * nearest untelemetered device upstream is out, the outage rolls up to that device (presumed open).
   */
  private afterTransformerChange(transformer: TransformerInfo, nowMs: number): OutageChange[] {
    const outage = this.meterOutages.outageOfTransformer(transformer.id);
    if (!outage || !outage.wholeTransformer || outage.record.cause !== 'transformerOut') return [];
    const deviceId = this.parentDevice(transformer.sectionId);
    if (deviceId === null || this.isTelemetered(deviceId)) return [];
    if (this.energization.position(deviceId) !== 'closed') return [];
    const region = this.loadSide(deviceId);
    const outs: OutageRecord[] = [];
    for (const sectionId of region) {
      if (!this.energization.isEnergized(sectionId)) continue;
      for (const t of this.topology.section(sectionId)!.transformers) {
        const o = this.meterOutages.outageOfTransformer(t);
        // Only a transformer outage (share of meters or TTU) rolls up, not a single-customer one.
        if (!o || !o.wholeTransformer || o.record.cause !== 'transformerOut') return [];
        outs.push(o.record);
      }
    }
    if (outs.length === 0) return [];
    const startedAtMs = Math.min(...outs.map((o) => o.startedAtMs));
    this.inferredOpen.add(deviceId);
    const change = this.energization.setSwitch(deviceId, 'open');
    const changes = this.afterSwitchChange(deviceId, change, nowMs, { startedAtMs, inferred: true });
    return changes;
  }

  /** The non-tie device whose load side a section is in the normal configuration. */
  private parentDevice(sectionId: string): string | null {
    for (const swId of this.topology.section(sectionId)!.switches) {
      const sw = this.topology.switchDevice(swId)!;
      if (sw.to === sectionId && sw.kind !== 'tie') return swId;
    }
    return null;
  }

  private isTelemetered(switchId: string): boolean {
    const sw = this.topology.switchDevice(switchId)!;
    if (this.telemeteredSeen.has(switchId)) return true;
    if (sw.kind === 'fuse') return false;
    return this.telemeteredOption === null ? true : this.telemeteredOption.has(switchId);
  }

  /** Sections below a device along the normal tree through closed non-tie devices (the device included). */
  private loadSide(deviceId: string): string[] {
    const first = this.topology.switchDevice(deviceId)!.to;
    const out = [first];
    for (let head = 0; head < out.length; head++) {
      const section = out[head]!;
      for (const swId of this.topology.section(section)!.switches) {
        const sw = this.topology.switchDevice(swId)!;
        if (sw.from !== section || sw.kind === 'tie' || this.energization.position(swId) !== 'closed') continue;
        if (!out.includes(sw.to)) out.push(sw.to);
      }
    }
    return out;
  }

  /**
   * A meter or TTU under a dark section shows supply: when its section is dark only because of an
   * untelemetered device presumed open, the device is presumed closed again (the fuse was replaced).
   */
  private signOfLife(transformer: TransformerInfo, ts: number): OutageChange[] {
    if (this.inferredOpen.size === 0 || this.energization.isEnergized(transformer.sectionId)) return [];
    for (const deviceId of this.inferredOpen) {
      if (!this.loadSide(deviceId).includes(transformer.sectionId)) continue;
      this.inferredOpen.delete(deviceId);
      const change = this.energization.setSwitch(deviceId, 'closed');
      return this.afterSwitchChange(deviceId, change, ts, {});
    }
    return [];
  }

  /** Outage bookkeeping after a device moved (seen or presumed). */
  private afterSwitchChange(
    switchId: string,
    change: EnergizationChange,
    ts: number,
    opts: { startedAtMs?: number; inferred?: boolean },
  ): OutageChange[] {
    for (const id of change.energized) {
      this.sectionChanges.set(id, (this.sectionChanges.get(id) ?? 0) + 1);
      this.lastEnergizedMs.set(id, ts);
    }
    for (const id of change.deenergized) this.sectionChanges.set(id, (this.sectionChanges.get(id) ?? 0) + 1);
    if (change.energized.length > 0 || change.deenergized.length > 0) this.version++;
    const changes: OutageChange[] = [];
    if (change.deenergized.length > 0) {
      const started = this.switchingOutages.onDeenergized(change.deenergized, switchId, ts, opts);
      for (const c of started) {
        const record = this.switchingOutages.outage(c.outage.id);
        if (opts.inferred && record && c.type === 'outage.started') {
          record.confidence = 'inferred';
          const sw = this.topology.switchDevice(switchId)!;
          if (record.cause === 'switchOpened' && sw.kind === 'fuse') record.cause = 'protectionTrip';
          record.addEvidence({ at: isoTime(ts), kind: 'rollUp', subject: switchId, detail: 'every transformer below is out' });
          c.outage = record.snapshot();
        }
        // Events of an outage that starts before the decision carry the decision time.
        changes.push({ ...c, atMs: Math.max(c.atMs, ts) });
      }
      changes.push(...this.swallowOrNest(change.deenergized, ts, opts.inferred === true));
    }
    if (change.energized.length > 0) {
      this.meterOutages.forgetReadings(change.energized);
      changes.push(...this.switchingOutages.onEnergized(change.energized, ts));
      // Silent meters on the sections that came back count again toward their transformer, after the hold.
      for (const sectionId of change.energized) {
        for (const t of this.topology.section(sectionId)!.transformers) {
          const transformer = this.topology.transformer(t)!;
          if (this.meterOutages.silentCustomers(transformer).length === 0) continue;
          if (this.lossHoldMs === 0) changes.push(...this.decideTransformer(transformer, ts, ts));
          else this.hold(`recheck:${t}`, 'recheck', t, transformer, 0, ts);
        }
      }
    }
    return changes;
  }

  /**
   * Meter and transformer outages on sections that just went dark: swallowed (merged) by the upstream
   * outage when it started within the hold time of them (the same event, seen first by the meters, or a
   * roll-up), nested (parentId) otherwise.
   */
  private swallowOrNest(deenergized: readonly string[], ts: number, rollUp: boolean): OutageChange[] {
    const changes: OutageChange[] = [];
    for (const sectionId of deenergized) {
      const upstream = this.switchingOutages.darkOutageOf(sectionId);
      if (!upstream) continue;
      for (const t of this.topology.section(sectionId)!.transformers) {
        const outage = this.meterOutages.outageOfTransformer(t);
        if (!outage) continue;
        const record = outage.record;
        if (rollUp || upstream.startedAtMs - record.startedAtMs <= this.lossHoldMs) {
          changes.push(...this.meterOutages.merge(t, upstream.id, ts));
        } else if (record.parentId === null) {
          record.parentId = upstream.id;
          changes.push(record.change('outage.updated', ts));
        }
      }
    }
    return changes;
  }

  private classifyPlanned(record: OutageRecord): void {
    if (record.causeDevice === null) return;
    for (const [id, p] of this.planned) {
      if (!p.config.devices.includes(record.causeDevice)) continue;
      if (record.startedAtMs < p.startMs || record.startedAtMs > p.endMs) continue;
      record.kind = 'planned';
      record.cause = 'planned';
      record.plannedId = id;
      record.addEvidence({ at: isoTime(record.startedAtMs), kind: 'plannedWindow', subject: id, detail: `${p.config.start}/${p.config.end}` });
      return;
    }
  }

  /** Everything needed to continue after a restart (see EngineState). */
  exportState(): EngineState {
    const switchPositions: Record<string, SwitchState> = {};
    for (const id of this.topology.switchIds()) {
      const position = this.energization.position(id);
      if (position === undefined) continue;
      if (position !== this.topology.switchDevice(id)!.normal || this.telemeteredSeen.has(id)) switchPositions[id] = position;
    }
    const outages: EngineOutagesState = {
      switching: this.switchingOutages.exportState(),
      meter: this.meterOutages.exportState(),
      pending: [...this.pendingLoss.values()].map((p) => ({ ...p })),
      lastObservationMs: this.lastObservationMs,
      sectionChanges: [...this.sectionChanges],
      lastEnergizedMs: [...this.lastEnergizedMs],
      inferredOpen: [...this.inferredOpen],
      telemetered: [...this.telemeteredSeen],
    };
    return {
      format: 1,
      savedAtMs: this.lastObservationMs,
      switchPositions,
      outages,
      selfHealing: this.extensions.map((e) => e.exportState()),
      plannedOutages: this.plannedOutages(),
    };
  }

  /**
   * Continues from an exported state (on an engine built from the same site). Energization is recomputed
   * from the positions; no event is emitted.
   */
  importState(state: EngineState): void {
    if (state.format !== 1) throw new Error(`engine state format ${String(state.format)} is not supported`);
    this.energization.restorePositions(state.switchPositions);
    this.energization.recomputeAll();
    const outages = state.outages as EngineOutagesState | null;
    if (outages && typeof outages === 'object') {
      this.switchingOutages.importState(outages.switching);
      this.meterOutages.importState(outages.meter);
      this.pendingLoss.clear();
      for (const p of outages.pending) this.pendingLoss.set(`${p.kind}:${p.subject}`, { ...p });
      this.sectionChanges.clear();
      for (const [id, n] of outages.sectionChanges) this.sectionChanges.set(id, n);
      this.lastEnergizedMs.clear();
      for (const [id, ms] of outages.lastEnergizedMs) this.lastEnergizedMs.set(id, ms);
      this.inferredOpen.clear();
      for (const id of outages.inferredOpen) this.inferredOpen.add(id);
      for (const id of outages.telemetered) this.telemeteredSeen.add(id);
      this.lastObservationMs = outages.lastObservationMs;
    }
    if (Array.isArray(state.plannedOutages)) {
      for (const p of state.plannedOutages as PlannedOutageConfig[]) this.registerPlannedOutage(p);
    }
    if (Array.isArray(state.selfHealing)) {
      const parts: unknown[] = state.selfHealing;
      this.extensions.forEach((e, i) => {
        if (i < parts.length) e.importState(parts[i]);
      });
    }
    this.version++;
  }

  private lastObservationMs = 0;

  private toEvent(change: OutageChange): DomainEvent {
    return { ...this.sequence.next(), ts: isoTime(change.atMs), type: change.type, outage: change.outage };
  }

  private toExtensionEvent(e: ExtensionEvent): DomainEvent {
    return { ...this.sequence.next(), ts: isoTime(e.atMs), type: e.type, report: e.report };
  }
}
