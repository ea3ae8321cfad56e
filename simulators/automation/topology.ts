/**
 * What the automation needs to know about the site beyond the model's live state: which feeder each
 * switch and section belongs to, the switches at each section, each feeder's automation mode and
 * capacity, and the two questions every FA scheme asks: where is the fault (from the fault flags), and
 * can a tie take the load of the dead healthy sections (capacity). Built from the site config only; the
 * simulator imports nothing from gateway/engine/.
 */
import type {
  FeederAutomationMode,
  SimulatorAutomationConfig,
  SiteConfig,
  SwitchConfig,
  SwitchKind,
} from '../../gateway/config/site-config.js';
import type { FeederModel } from '../feeder-model.js';

/** Defaults of config/site.schema.json, for a site without `simulator.automation`. */
export const DEFAULT_AUTOMATION: SimulatorAutomationConfig = {
  feeders: [],
  protection: [],
  voltageTime: { xMs: 7000, yMs: 5000, xlMs: 5000, lossOfVoltageOpenMs: 3000 },
  centralized: { actionDelayMs: 2000 },
  loadPerTransformerA: 12,
};
/** Capacity of a feeder that `automation.feeders` does not list (the schema's default). */
export const DEFAULT_CAPACITY_A = 400;

/** Devices that trip on fault current and can reclose. */
export const PROTECTION_KINDS: ReadonlySet<SwitchKind> = new Set<SwitchKind>(['breaker', 'recloser']);
/** Devices a master station or an FTU can operate (a fuse cannot be). */
const OPERABLE_KINDS: ReadonlySet<SwitchKind> = new Set<SwitchKind>(['breaker', 'recloser', 'sectionalizer', 'loadBreakSwitch', 'tie']);

export interface FaultLocation {
  /** The section on the load side of the farthest device that saw fault current. */
  section: string;
  /** That device: the upstream boundary of the faulted section (the protecting device itself when the fault is right behind it). */
  upstream: string;
}

export interface TransferCheck {
  tie: string;
  /** The live side's feeder, which would take the load. */
  feeder: string;
  presentA: number;
  transferA: number;
  capacityA: number;
  /** The dead sections the tie would feed. */
  sections: string[];
  ok: boolean;
}

export class AutomationTopology {
  readonly settings: SimulatorAutomationConfig;
  private readonly switches = new Map<string, SwitchConfig>();
  private readonly switchFeeder = new Map<string, string>();
  private readonly sectionFeeder = new Map<string, string>();
  private readonly atSection = new Map<string, string[]>();
  private readonly modes = new Map<string, FeederAutomationMode>();
  private readonly capacities = new Map<string, number>();

  constructor(site: SiteConfig) {
    this.settings = site.simulator.automation ?? DEFAULT_AUTOMATION;
    for (const feeder of site.feeders) {
      for (const section of feeder.sections) {
        this.sectionFeeder.set(section.id, feeder.id);
        this.atSection.set(section.id, []);
      }
    }
    for (const feeder of site.feeders) {
      for (const sw of feeder.switches) {
        this.switches.set(sw.id, sw);
        this.switchFeeder.set(sw.id, feeder.id);
        for (const side of [sw.from, sw.to]) if (side !== undefined) this.atSection.get(side)?.push(sw.id);
      }
    }
    for (const list of this.atSection.values()) list.sort();
    for (const entry of this.settings.feeders) {
      this.modes.set(entry.feeder, entry.mode);
      this.capacities.set(entry.feeder, entry.capacityA);
    }
  }

  switchIds(): string[] {
    return [...this.switches.keys()].sort();
  }

  config(switchId: string): SwitchConfig {
    const sw = this.switches.get(switchId);
    if (sw === undefined) throw new Error(`unknown switch "${switchId}"`);
    return sw;
  }

  feederOfSwitch(switchId: string): string {
    return this.switchFeeder.get(switchId) ?? '';
  }

  feederOfSection(sectionId: string): string {
    return this.sectionFeeder.get(sectionId) ?? '';
  }

  modeOf(feederId: string): FeederAutomationMode {
    return this.modes.get(feederId) ?? 'none';
  }

  capacityOf(feederId: string): number {
    return this.capacities.get(feederId) ?? DEFAULT_CAPACITY_A;
  }

  /** Switches with an end on the section, sorted. */
  switchesAt(sectionId: string): string[] {
    return this.atSection.get(sectionId) ?? [];
  }

  /** The section on the other end of the switch from `sectionId`; undefined for the bus side of a breaker. */
  otherSide(switchId: string, sectionId: string): string | undefined {
    const sw = this.config(switchId);
    return sw.to === sectionId ? sw.from : sw.to;
  }

  isOperable(switchId: string): boolean {
    return OPERABLE_KINDS.has(this.config(switchId).kind);
  }

  /**
   * Locates the fault behind a tripped device the way a master station does, from the fault flags alone:
   * from the device's load side (`to`) follow closed switches that carry the flag; the fault lies on the
   * load side of the farthest one.
   */
  locateFault(model: FeederModel, device: string): FaultLocation {
    let upstream = device;
    let section = this.config(device).to;
    const visited = new Set([section]);
    for (;;) {
      const next = this.switchesAt(section).find((id) => {
        if (id === upstream) return false;
        const status = model.switchStatus(id);
        const other = this.otherSide(id, section);
        return status.faultFlag && status.position === 'closed' && other !== undefined && !visited.has(other);
      });
      if (next === undefined) return { section, upstream };
      upstream = next;
      section = this.otherSide(next, section) as string;
      visited.add(section);
    }
  }

  /** The operable switches around a faulted section that are closed now: opening them isolates it. */
  isolatingSwitches(model: FeederModel, faultedSection: string): string[] {
    return this.switchesAt(faultedSection).filter((id) => this.isOperable(id) && model.switchStatus(id).position === 'closed');
  }

  /**
   * Whether a tie can take the dead sections on its dead side: exactly one side live, and the live side's
   * feeder's present load plus the transferred load (transformers x loadPerTransformerA) within its
   * capacity. `passable` says which open switches on the dead side will close after the tie (voltage-time
   * switches); closed switches always pass. Undefined when the tie does not have exactly one live side.
   */
  checkTransfer(model: FeederModel, tie: string, passable: (switchId: string) => boolean = () => false): TransferCheck | undefined {
    const sw = this.config(tie);
    if (sw.from === undefined) return undefined;
    const fromLive = model.isEnergized(sw.from);
    const toLive = model.isEnergized(sw.to);
    if (fromLive === toLive) return undefined;
    const live = fromLive ? sw.from : sw.to;
    const dead = fromLive ? sw.to : sw.from;
    const source = model.feedingSource(live) as string;
    const feeder = this.feederOfSwitch(source);
    const load = this.settings.loadPerTransformerA;
    let present = 0;
    for (const section of this.sectionFeeder.keys()) {
      if (model.isEnergized(section) && model.feedingSource(section) === source) present += model.transformerCount(section);
    }
    const region = [dead];
    const seen = new Set(region);
    for (let i = 0; i < region.length; i++) {
      const section = region[i] as string;
      for (const id of this.switchesAt(section)) {
        if (id === tie) continue;
        const other = this.otherSide(id, section);
        if (other === undefined || seen.has(other) || model.isEnergized(other)) continue;
        if (model.switchStatus(id).position !== 'closed' && !passable(id)) continue;
        seen.add(other);
        region.push(other);
      }
    }
    const transfer = region.reduce((sum, s) => sum + model.transformerCount(s), 0);
    const capacityA = this.capacityOf(feeder);
    return {
      tie,
      feeder,
      presentA: present * load,
      transferA: transfer * load,
      capacityA,
      sections: region.sort(),
      ok: (present + transfer) * load <= capacityA,
    };
  }
}
