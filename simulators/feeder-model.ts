/**
 * The simulated feeder: switch positions, faults, and which sections are energized, computed by this
 * file's own small breadth-first search. It deliberately imports nothing from gateway/engine/: the
 * simulator is the independent truth the gateway is tested against, so a bug in the engine's
 * energization must not be able to hide itself by being shared with the simulator.
 *
 * Protection is modelled at the level the gateway can observe: a fault on an energized section sets the
 * fault flag on every switch between the source and the fault and trips the nearest upstream breaker or
 * recloser. A tripped device locks out at once unless a reclosing controller claims it
 * (`setReclosingOwner`); reclosing and feeder automation live in simulators/automation/ and act on the
 * model through `operate` and `setLockout` (see docs/simulator.md).
 *
 * A temporary fault is extinguished by the trip that de-energizes it (it leaves `faults` then, with a
 * `faultCleared` event); the fault flags it set stay latched until its section is energized again, so
 * they are visible during the dead time and reset when the reclose succeeds.
 */
import { stableHash32 } from '../drivers/modbus/stagger.js';
import type { Clock } from '../gateway/clock.js';
import type { SiteConfig, SwitchConfig, SwitchKind, SwitchState } from '../gateway/config/site-config.js';

/** Medium-voltage line-to-line voltage served to FTUs on a live source side (10 kV feeders, DOMAIN.md 1). */
export const LINE_VOLTAGE_V = 10_000;
/** Nominal load per distribution transformer, in amperes on the 10 kV side (about 200 kVA); `automation.loadPerTransformerA` overrides it. */
export const DEFAULT_TRANSFORMER_LOAD_A = 12;
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
  /** Locked out: by protection after its last reclose shot, or by feeder automation (blocked from closing). */
  lockout: boolean;
}

export interface ModelState {
  energizedSections: string[];
  deenergizedSections: string[];
  switches: Record<string, SwitchStatus>;
  faults: string[];
  meterLinks: Record<string, boolean>;
}

/**
 * Why a switch moved: a command (control API, scenario, Modbus write), the protection (trip, automatic
 * reclose) or feeder automation (voltage-time switches, the centralized master, distributed FA).
 */
export type OperationCause = 'command' | 'protection' | 'automation';

export type ModelEvent =
  | { type: 'faultInjected'; section: string; permanent: boolean }
  /** `extinguished`: a temporary fault that went out when a trip de-energized it; otherwise cleared by a command. */
  | { type: 'faultCleared'; section: string; extinguished?: true }
  | { type: 'switchOperated'; switch: string; position: SwitchState; cause: OperationCause }
  | { type: 'lockout'; switch: string; locked: boolean }
  /**
   * Sections that were live for an instant inside one operation: a switch closed onto a fault and the
   * protection tripped again before the operation settled. Voltage-time switches see it as a short pulse.
   */
  | { type: 'voltagePulse'; sections: string[] }
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
  lockout: boolean;
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
  /** Faults on the line now, with whether each is permanent. */
  private readonly faults = new Map<string, { permanent: boolean }>();
  /**
   * Per faulted section, the switches that saw its fault current; a switch's flag is the union. An
   * extinguished temporary fault keeps its entry until its section is energized again.
   */
  private readonly faultFlags = new Map<string, Set<string>>();
  private readonly locked = new Set<string>();
  private readonly transformerLoadA: number;
  private reclosingOwner: (switchId: string) => boolean = () => false;
  private readonly listeners = new Set<ModelListener>();
  private reached = new Map<string, Reached>();
  private readonly pending: ModelEvent[] = [];
  private emitting = false;

  constructor(site: SiteConfig, opts: FeederModelOptions) {
    this.clock = opts.clock;
    this.nominalV = site.simulator.meterNominalV;
    this.transformerLoadA = site.simulator.automation?.loadPerTransformerA ?? DEFAULT_TRANSFORMER_LOAD_A;
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

  /**
   * Puts a fault on a section (permanent by default). A temporary fault goes out with the first trip that
   * de-energizes it, so the next reclose succeeds. Injecting where there already is a fault changes nothing.
   */
  injectFault(sectionId: string, opts: { permanent?: boolean } = {}): void {
    this.requireSection(sectionId);
    if (this.faults.has(sectionId)) return;
    const permanent = opts.permanent ?? true;
    this.faults.set(sectionId, { permanent });
    // Flags latched from an earlier, extinguished fault there are replaced by this fault's.
    this.faultFlags.set(sectionId, new Set());
    const events: ModelEvent[] = [{ type: 'faultInjected', section: sectionId, permanent }];
    this.protect(events, new Set(this.reached.keys()));
    this.emit(events);
  }

  /**
   * Removes the fault and the fault flags it set. Real FTUs latch their fault indication until a reset
   * command or a timer; resetting with the fault is a simplification. Clearing a section without a fault
   * is a no-op, so scripts can clear unconditionally.
   */
  clearFault(sectionId: string): void {
    this.requireSection(sectionId);
    if (!this.faults.delete(sectionId)) {
      // Flags latched by an extinguished temporary fault go with an explicit clear too.
      this.faultFlags.delete(sectionId);
      return;
    }
    this.faultFlags.delete(sectionId);
    this.emit([{ type: 'faultCleared', section: sectionId }]);
  }

  /**
   * A command operates any switching device, fuses included (opened = blown, closed = replaced). An
   * operator's command also releases a lockout, even when the switch is already in that position.
   */
  setSwitch(switchId: string, position: SwitchState): void {
    const entry = this.switches.get(switchId);
    if (entry === undefined) throw new UnknownIdError('switch', switchId);
    const events: ModelEvent[] = [];
    if (this.locked.delete(switchId)) events.push({ type: 'lockout', switch: switchId, locked: false });
    this.move(switchId, position, 'command', events);
    this.emit(events);
  }

  /**
   * Operates a switch for protection (reclose) or feeder automation; the lockout is left as it is.
   * Closing onto a fault trips again at once, inside this call.
   */
  operate(switchId: string, position: SwitchState, cause: OperationCause): void {
    if (!this.switches.has(switchId)) throw new UnknownIdError('switch', switchId);
    const events: ModelEvent[] = [];
    this.move(switchId, position, cause, events);
    this.emit(events);
  }

  /** Sets or releases a switch's lockout (protection lockout, or an FA switch blocked from closing). */
  setLockout(switchId: string, locked: boolean): void {
    this.requireSwitch(switchId);
    if (this.locked.has(switchId) === locked) return;
    if (locked) this.locked.add(switchId);
    else this.locked.delete(switchId);
    this.emit([{ type: 'lockout', switch: switchId, locked }]);
  }

  isLocked(switchId: string): boolean {
    this.requireSwitch(switchId);
    return this.locked.has(switchId);
  }

  /**
   * Lets a reclosing controller claim tripped devices: a device it claims is left unlocked after a trip
   * (the controller recloses or locks it out); any other device locks out at once when it trips.
   */
  setReclosingOwner(owns: (switchId: string) => boolean): void {
    this.reclosingOwner = owns;
  }

  /** The bus-fed switch a live section is fed through now; undefined when the section is dark. */
  feedingSource(sectionId: string): string | undefined {
    this.requireSection(sectionId);
    const path = this.pathToSource(sectionId);
    return path[path.length - 1];
  }

  /** Transformers on a section (the unit of load). */
  transformerCount(sectionId: string): number {
    this.requireSection(sectionId);
    return this.transformersPerSection.get(sectionId) ?? 0;
  }

  private move(switchId: string, position: SwitchState, cause: OperationCause, events: ModelEvent[]): void {
    const entry = this.switches.get(switchId) as SwitchEntry;
    if (entry.position === position) return;
    const before = new Set(this.reached.keys());
    entry.position = position;
    this.recompute();
    events.push({ type: 'switchOperated', switch: switchId, position, cause });
    // Closing may energize a faulted section: the protection then trips exactly as for a new fault.
    this.protect(events, before);
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
    this.locked.clear();
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
      faults: [...this.faults.keys()].sort(),
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
    return { position: entry.position, faultFlag, lockout: this.locked.has(switchId) };
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
    const { position, faultFlag, lockout } = this.switchStatus(switchId);
    const config = this.requireSwitch(switchId);
    const sourceLive = config.from === undefined || this.reached.has(config.from);
    return { position, faultFlag, lockout, ia: this.loadThrough(switchId), uab: sourceLive ? LINE_VOLTAGE_V : 0 };
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
  private protect(events: ModelEvent[], before: ReadonlySet<string>): void {
    const during = new Set(this.reached.keys());
    const extinguished: string[] = [];
    for (const [section, fault] of [...this.faults].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      let tripped = false;
      while (this.reached.has(section)) {
        const path = this.pathToSource(section);
        const flagged = this.faultFlags.get(section) ?? new Set<string>();
        this.faultFlags.set(section, flagged);
        for (const id of path) flagged.add(id);
        // A path always ends at a bus-fed switch; if that is not a breaker either, it is the last resort.
        const device =
          path.find((id) => TRIPPING_KINDS.has(this.requireSwitch(id).kind)) ?? (path[path.length - 1] as string);
        const entry = this.switches.get(device) as SwitchEntry;
        entry.position = 'open';
        this.recompute();
        for (const s of this.reached.keys()) during.add(s);
        events.push({ type: 'switchOperated', switch: device, position: 'open', cause: 'protection' });
        if (!this.reclosingOwner(device) && !this.locked.has(device)) {
          this.locked.add(device);
          events.push({ type: 'lockout', switch: device, locked: true });
        }
        tripped = true;
      }
      if (tripped && !fault.permanent) extinguished.push(section);
    }
    for (const section of extinguished) {
      // The arc went out with the interruption; the flags stay latched until the section is live again.
      this.faults.delete(section);
      events.push({ type: 'faultCleared', section, extinguished: true });
    }
    // Latched flags of extinguished faults reset once their section is energized again.
    for (const section of [...this.faultFlags.keys()]) {
      if (!this.faults.has(section) && this.reached.has(section)) this.faultFlags.delete(section);
    }
    const pulsed = [...during].filter((s) => !before.has(s) && !this.reached.has(s)).sort();
    if (pulsed.length > 0) events.push({ type: 'voltagePulse', sections: pulsed });
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
    return transformers * this.transformerLoadA * swing;
  }

  /**
   * Delivers events to every listener. A listener that changes the model (the feeder automation does)
   * gets its events queued behind the ones being delivered, so every listener sees them in causal order.
   */
  private emit(events: ModelEvent[]): void {
    this.pending.push(...events);
    if (this.emitting) return;
    this.emitting = true;
    try {
      for (let event = this.pending.shift(); event !== undefined; event = this.pending.shift()) this.deliver(event);
    } finally {
      this.emitting = false;
    }
  }

  private deliver(event: ModelEvent): void {
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

/** A stable number in [0, 1) per string (FNV-1a), so each customer gets its own but repeatable variation. */
function unitHash(text: string): number {
  return stableHash32(text) / 0x1_0000_0000;
}
