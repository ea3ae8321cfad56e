/**
 * The simulated feeder: switch positions, faults, and which sections are energized, computed by this
 * file's own small breadth-first search. It deliberately imports nothing from gateway/engine/: the
 * simulator is the independent truth the gateway is tested against, so a bug in the engine's
 * energization must not be able to hide itself by being shared with the simulator.
 *
 * Protection is modelled at the level the gateway can observe: a fault on an energized section sets the
 * fault flag on every switch between the source and the fault and trips the nearest upstream breaker or
 * recloser. There is no automatic reclosing, no fuse blowing and no FA logic here; those are actions of
 * scenarios and of the control API (see docs/simulator.md).
 */
import type { Clock } from '../gateway/clock.js';
import type { SiteConfig, SwitchConfig, SwitchKind, SwitchState } from '../gateway/config/site-config.js';

/** Medium-voltage line-to-line voltage served to FTUs on a live source side (10 kV feeders, DOMAIN.md 1). */
export const LINE_VOLTAGE_V = 10_000;
/** Nominal load per distribution transformer, in amperes on the 10 kV side (about 200 kVA). */
const TRANSFORMER_LOAD_A = 12;
/** Household power factor used to turn V x A into watts. */
const POWER_FACTOR = 0.95;
/** Periods of the slow deterministic variations; chosen so a demo shows movement within a minute. */
const VOLTAGE_PERIOD_MS = 60_000;
const LOAD_PERIOD_MS = 300_000;

export class UnknownIdError extends Error {
  constructor(
    readonly kind: 'section' | 'switch' | 'customer',
    readonly id: string,
  ) {
    super(`unknown ${kind} "${id}"`);
    this.name = 'UnknownIdError';
  }
}

export interface SwitchStatus {
  position: SwitchState;
  faultFlag: boolean;
}

export interface ModelState {
  energizedSections: string[];
  deenergizedSections: string[];
  switches: Record<string, SwitchStatus>;
  faults: string[];
  meterLinks: Record<string, boolean>;
}

/** Why a switch moved: a command (control API, scenario, Modbus write) or the protection tripping it. */
export type OperationCause = 'command' | 'protection';

export type ModelEvent =
  | { type: 'faultInjected'; section: string }
  | { type: 'faultCleared'; section: string }
  | { type: 'switchOperated'; switch: string; position: SwitchState; cause: OperationCause }
  | { type: 'meterLink'; customer: string; up: boolean }
  | { type: 'reset' };

export type ModelListener = (event: ModelEvent) => void;

export interface MeterValues {
  /** Phase voltage, V. */
  voltage: number;
  /** Phase current, A. */
  current: number;
  /** Active power, W. */
  power: number;
}

export interface SwitchValues {
  position: SwitchState;
  faultFlag: boolean;
  /** Phase current through the switch, A (0 when open or dark). */
  ia: number;
  /** Line voltage on the source side, V. */
  uab: number;
}

export interface FeederModelOptions {
  /** Drives the small deterministic variation of meter voltages and loads. */
  clock: Clock;
}

interface SwitchEntry {
  config: SwitchConfig;
  position: SwitchState;
}

/** A switch seen from one of its sections: closing it connects `section` to `other`. */
interface Edge {
  switchId: string;
  other: string;
}

/** How the search reached a section: through `switchId`, from `previous` (null: from the substation bus). */
interface Reached {
  switchId: string;
  previous: string | null;
}

const TRIPPING_KINDS: ReadonlySet<SwitchKind> = new Set<SwitchKind>(['breaker', 'recloser']);

export class FeederModel {
  private readonly clock: Clock;
  private readonly nominalV: number;
  private readonly sectionIds: string[];
  private readonly switches = new Map<string, SwitchEntry>();
  /** Switches without a `from`: fed straight from a substation bus, which is always live. */
  private readonly sourceSwitches: string[] = [];
  private readonly edges = new Map<string, Edge[]>();
  private readonly customerSection = new Map<string, string>();
  private readonly transformersPerSection = new Map<string, number>();
  private readonly meterLinks = new Map<string, boolean>();
  private readonly faults = new Set<string>();
  /** Per faulted section, the switches that saw its fault current; a switch's flag is the union. */
  private readonly faultFlags = new Map<string, Set<string>>();
  private readonly listeners = new Set<ModelListener>();
  private reached = new Map<string, Reached>();

  constructor(site: SiteConfig, opts: FeederModelOptions) {
    this.clock = opts.clock;
    this.nominalV = site.simulator.meterNominalV;
    const sections: string[] = [];
    for (const feeder of site.feeders) {
      for (const section of feeder.sections) {
        sections.push(section.id);
        this.edges.set(section.id, []);
        this.transformersPerSection.set(section.id, 0);
      }
    }
    this.sectionIds = sections.sort();
    for (const feeder of site.feeders) {
      for (const sw of feeder.switches) {
        this.switches.set(sw.id, { config: sw, position: sw.normal });
        if (sw.from === undefined) {
          this.sourceSwitches.push(sw.id);
        } else {
          // Switches conduct both ways: that is what lets a closed tie back-feed another feeder's sections.
          this.edgesOf(sw.from).push({ switchId: sw.id, other: sw.to });
          this.edgesOf(sw.to).push({ switchId: sw.id, other: sw.from });
        }
      }
      for (const tr of feeder.transformers) {
        this.transformersPerSection.set(tr.section, (this.transformersPerSection.get(tr.section) ?? 0) + 1);
        for (const customer of tr.customers) {
          this.customerSection.set(customer, tr.section);
          this.meterLinks.set(customer, true);
        }
      }
    }
    this.recompute();
  }

  /** Registers a listener called once per event, after the whole operation has settled; returns an unsubscribe. */
  onChange(listener: ModelListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  injectFault(sectionId: string): void {
    this.requireSection(sectionId);
    if (this.faults.has(sectionId)) return;
    this.faults.add(sectionId);
    this.faultFlags.set(sectionId, new Set());
    const events: ModelEvent[] = [{ type: 'faultInjected', section: sectionId }];
    this.protect(events);
    this.emit(events);
  }

  /**
   * Removes the fault and the fault flags it set. Real FTUs latch their fault indication until a reset
   * command or a timer; resetting with the fault is a simplification. Clearing a section without a fault
   * is a no-op, so scripts can clear unconditionally.
   */
  clearFault(sectionId: string): void {
    this.requireSection(sectionId);
    if (!this.faults.delete(sectionId)) return;
    this.faultFlags.delete(sectionId);
    this.emit([{ type: 'faultCleared', section: sectionId }]);
  }

  /** Operates any switching device, fuses included (opened = blown, closed = replaced). */
  setSwitch(switchId: string, position: SwitchState): void {
    const entry = this.switches.get(switchId);
    if (entry === undefined) throw new UnknownIdError('switch', switchId);
    if (entry.position === position) return;
    entry.position = position;
    this.recompute();
    const events: ModelEvent[] = [{ type: 'switchOperated', switch: switchId, position, cause: 'command' }];
    // Closing may energize a faulted section: the protection then trips exactly as for a new fault.
    this.protect(events);
    this.emit(events);
  }

  /** A cut link makes the customer's meter device stop answering altogether. */
  setMeterLink(customerId: string, up: boolean): void {
    if (!this.meterLinks.has(customerId)) throw new UnknownIdError('customer', customerId);
    if (this.meterLinks.get(customerId) === up) return;
    this.meterLinks.set(customerId, up);
    this.emit([{ type: 'meterLink', customer: customerId, up }]);
  }

  /** Back to the normal configuration: normal positions, no faults, every meter link up. */
  reset(): void {
    for (const entry of this.switches.values()) entry.position = entry.config.normal;
    this.faults.clear();
    this.faultFlags.clear();
    for (const customer of this.meterLinks.keys()) this.meterLinks.set(customer, true);
    this.recompute();
    this.emit([{ type: 'reset' }]);
  }

  state(): ModelState {
    const switches: Record<string, SwitchStatus> = {};
    for (const id of [...this.switches.keys()].sort()) switches[id] = this.switchStatus(id);
    const meterLinks: Record<string, boolean> = {};
    for (const id of [...this.meterLinks.keys()].sort()) meterLinks[id] = this.meterLinks.get(id) === true;
    return {
      energizedSections: this.sectionIds.filter((s) => this.reached.has(s)),
      deenergizedSections: this.sectionIds.filter((s) => !this.reached.has(s)),
      switches,
      faults: [...this.faults].sort(),
      meterLinks,
    };
  }

  hasSection(id: string): boolean {
    return this.edges.has(id);
  }

  hasSwitch(id: string): boolean {
    return this.switches.has(id);
  }

  hasCustomer(id: string): boolean {
    return this.meterLinks.has(id);
  }

  isEnergized(sectionId: string): boolean {
    this.requireSection(sectionId);
    return this.reached.has(sectionId);
  }

  isMeterLinkUp(customerId: string): boolean {
    const up = this.meterLinks.get(customerId);
    if (up === undefined) throw new UnknownIdError('customer', customerId);
    return up;
  }

  switchStatus(switchId: string): SwitchStatus {
    const entry = this.switches.get(switchId);
    if (entry === undefined) throw new UnknownIdError('switch', switchId);
    let faultFlag = false;
    for (const flagged of this.faultFlags.values()) if (flagged.has(switchId)) faultFlag = true;
    return { position: entry.position, faultFlag };
  }

  /** What the customer's meter measures now: nominal voltage with a small variation when supplied, else zeros. */
  meterValues(customerId: string): MeterValues {
    const section = this.customerSection.get(customerId);
    if (section === undefined) throw new UnknownIdError('customer', customerId);
    if (!this.reached.has(section)) return { voltage: 0, current: 0, power: 0 };
    const now = this.clock.now();
    const phase = 2 * Math.PI * unitHash(customerId);
    const voltage = this.nominalV * (1 + 0.01 * Math.sin((2 * Math.PI * now) / VOLTAGE_PERIOD_MS + phase));
    // A household drawing between 1.5 and 6.5 A, swinging by 10 % around its own base.
    const base = 1.5 + 5 * unitHash(`${customerId}/load`);
    const current = base * (1 + 0.1 * Math.sin((2 * Math.PI * now) / LOAD_PERIOD_MS + phase));
    return { voltage, current, power: voltage * current * POWER_FACTOR };
  }

  /** What the switch's FTU measures now. */
  switchValues(switchId: string): SwitchValues {
    const { position, faultFlag } = this.switchStatus(switchId);
    const config = this.requireSwitch(switchId);
    const sourceLive = config.from === undefined || this.reached.has(config.from);
    return { position, faultFlag, ia: this.loadThrough(switchId), uab: sourceLive ? LINE_VOLTAGE_V : 0 };
  }

  private edgesOf(sectionId: string): Edge[] {
    const edges = this.edges.get(sectionId);
    // The site config's cross-reference check guarantees this; the message helps a hand-built test config.
    if (edges === undefined) throw new UnknownIdError('section', sectionId);
    return edges;
  }

  private requireSection(sectionId: string): void {
    if (!this.edges.has(sectionId)) throw new UnknownIdError('section', sectionId);
  }

  private requireSwitch(switchId: string): SwitchConfig {
    const entry = this.switches.get(switchId);
    if (entry === undefined) throw new UnknownIdError('switch', switchId);
    return entry.config;
  }

  private isClosed(switchId: string): boolean {
    return this.switches.get(switchId)?.position === 'closed';
  }

  /** Whole recompute from every closed bus-fed switch; sites are small and this is obviously right. */
  private recompute(): void {
    const reached = new Map<string, Reached>();
    const queue: string[] = [];
    for (const id of this.sourceSwitches) {
      const to = this.requireSwitch(id).to;
      if (this.isClosed(id) && !reached.has(to)) {
        reached.set(to, { switchId: id, previous: null });
        queue.push(to);
      }
    }
    for (let i = 0; i < queue.length; i++) {
      const section = queue[i] as string;
      for (const edge of this.edgesOf(section)) {
        if (this.isClosed(edge.switchId) && !reached.has(edge.other)) {
          reached.set(edge.other, { switchId: edge.switchId, previous: section });
          queue.push(edge.other);
        }
      }
    }
    this.reached = reached;
  }

  /** Switches between the section and its source, nearest to the section first. */
  private pathToSource(sectionId: string): string[] {
    const path: string[] = [];
    let step = this.reached.get(sectionId);
    while (step !== undefined) {
      path.push(step.switchId);
      step = step.previous === null ? undefined : this.reached.get(step.previous);
    }
    return path;
  }

  /**
   * Keeps the invariant "no faulted section is energized". While a faulted section is live, every switch
   * on its feeding path sees fault current and the nearest breaker or recloser on that path trips. The loop
   * matters when a closed tie makes a loop: the fault is then fed from both ends and both feeding paths trip.
   */
  private protect(events: ModelEvent[]): void {
    for (const section of [...this.faults].sort()) {
      while (this.reached.has(section)) {
        const path = this.pathToSource(section);
        const flagged = this.faultFlags.get(section) ?? new Set<string>();
        this.faultFlags.set(section, flagged);
        for (const id of path) flagged.add(id);
        // A path always ends at a bus-fed switch; if that is not a breaker either, it is the last resort.
        const tripped =
          path.find((id) => TRIPPING_KINDS.has(this.requireSwitch(id).kind)) ?? (path[path.length - 1] as string);
        const entry = this.switches.get(tripped) as SwitchEntry;
        entry.position = 'open';
        this.recompute();
        events.push({ type: 'switchOperated', switch: tripped, position: 'open', cause: 'protection' });
      }
    }
  }

  /** Load current carried by a closed switch: the transformers of every live section fed through it. */
  private loadThrough(switchId: string): number {
    if (!this.isClosed(switchId)) return 0;
    let transformers = 0;
    for (const section of this.reached.keys()) {
      if (this.pathToSource(section).includes(switchId)) {
        transformers += this.transformersPerSection.get(section) ?? 0;
      }
    }
    if (transformers === 0) return 0;
    const swing = 1 + 0.05 * Math.sin((2 * Math.PI * this.clock.now()) / LOAD_PERIOD_MS + 2 * Math.PI * unitHash(switchId));
    return transformers * TRANSFORMER_LOAD_A * swing;
  }

  private emit(events: ModelEvent[]): void {
    for (const event of events) {
      for (const listener of [...this.listeners]) {
        // One failing listener (a log sink, a test probe) must not stop the others or the model.
        try {
          listener(event);
        } catch {
          /* listeners own their errors */
        }
      }
    }
  }
}

/** A stable number in [0, 1) per string (FNV-1a), so each customer gets its own but repeatable variation. */
function unitHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) / 0x1_0000_0000;
}
