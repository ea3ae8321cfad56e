/**
 * The static shape of a site's feeders, indexed for O(1) lookups: customer -> transformer -> section ->
 * feeder, section -> adjacent switching devices, and each switching device's place in its feeder's normal
 * (radial) tree, which fault location needs to tell "downstream" from "upstream".
 */
import type { AreaClass, SiteConfig, SwitchKind, SwitchState } from '../config/site-config.js';
import { IdOrder } from './id-order.js';

export interface SwitchInfo {
  readonly id: string;
  readonly kind: SwitchKind;
  /** Source-side section; null when the device is fed from the substation bus (a feeder breaker). */
  readonly from: string | null;
  readonly to: string;
  readonly normal: SwitchState;
  /** The feeder whose configuration lists this device. */
  readonly feederId: string;
}

export interface SectionInfo {
  readonly id: string;
  /** 0..sectionCount()-1 in configuration order: per-section state lives in arrays indexed by it. */
  readonly index: number;
  readonly feederId: string;
  /** Switching devices with this section on either side, in configuration order. */
  readonly switches: readonly string[];
  readonly transformers: readonly string[];
  /** Customers of all transformers on this section, in configuration order. */
  readonly customers: readonly string[];
  /** The same customers as ranks in `Topology.order.customers`, for fast sorting. */
  readonly customerRanks: Int32Array;
}

export interface TransformerInfo {
  readonly id: string;
  /** 0..transformerCount()-1 in configuration order: per-transformer state lives in arrays indexed by it. */
  readonly index: number;
  readonly sectionId: string;
  readonly feederId: string;
  readonly areaClass: AreaClass;
  readonly customers: readonly string[];
  /** The same customers as ranks in `Topology.order.customers`, for fast sorting. */
  readonly customerRanks: Int32Array;
}

export interface FeederInfo {
  readonly id: string;
  readonly breaker: string;
  readonly sections: readonly string[];
  /** Devices listed by this feeder plus ties listed by another feeder that end on one of its sections. */
  readonly switches: readonly string[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface MutableSection extends Mutable<SectionInfo> {
  switches: string[];
  transformers: string[];
  customers: string[];
}

export class Topology {
  readonly siteId: string;
  /** Fast sorting of the site's ids, for event payloads. */
  readonly order: { sections: IdOrder; transformers: IdOrder; customers: IdOrder };
  private readonly sections = new Map<string, SectionInfo>();
  private readonly switches = new Map<string, SwitchInfo>();
  private readonly transformers = new Map<string, TransformerInfo>();
  private readonly feeders = new Map<string, FeederInfo>();
  private readonly transformerOfCustomer = new Map<string, string>();
  /** Per section, the non-tie device whose load side it is in the normal configuration. */
  private readonly parentSwitch = new Map<string, string>();
  /** Per switching device, how many devices lie between it and its feeder breaker along the normal tree. */
  private readonly depths = new Map<string, number>();

  constructor(site: SiteConfig) {
    this.siteId = site.siteId;
    const sections = new Map<string, MutableSection>();
    const transformers = new Map<string, Mutable<TransformerInfo>>();
    for (const feeder of site.feeders) {
      for (const section of feeder.sections) {
        if (sections.has(section.id)) throw new Error(`duplicate section id ${section.id}`);
        sections.set(section.id, {
          id: section.id,
          index: sections.size,
          feederId: feeder.id,
          switches: [],
          transformers: [],
          customers: [],
          customerRanks: new Int32Array(0),
        });
      }
    }
    const requireSection = (id: string, where: string): MutableSection => {
      const section = sections.get(id);
      if (!section) throw new Error(`${where} names unknown section ${id}`);
      return section;
    };
    for (const feeder of site.feeders) {
      for (const sw of feeder.switches) {
        if (this.switches.has(sw.id)) throw new Error(`duplicate switch id ${sw.id}`);
        const to = requireSection(sw.to, `switch ${sw.id}`);
        const from = sw.from === undefined ? null : requireSection(sw.from, `switch ${sw.id}`);
        if (from === to) throw new Error(`switch ${sw.id} joins section ${sw.to} to itself`);
        this.switches.set(sw.id, {
          id: sw.id,
          kind: sw.kind,
          from: from ? from.id : null,
          to: to.id,
          normal: sw.normal,
          feederId: feeder.id,
        });
        if (from) from.switches.push(sw.id);
        to.switches.push(sw.id);
        if (sw.kind !== 'tie' && !this.parentSwitch.has(to.id)) this.parentSwitch.set(to.id, sw.id);
      }
      for (const tr of feeder.transformers) {
        if (transformers.has(tr.id)) throw new Error(`duplicate transformer id ${tr.id}`);
        const section = requireSection(tr.section, `transformer ${tr.id}`);
        for (const customer of tr.customers) {
          if (this.transformerOfCustomer.has(customer)) throw new Error(`customer ${customer} is on two transformers`);
          this.transformerOfCustomer.set(customer, tr.id);
          section.customers.push(customer);
        }
        section.transformers.push(tr.id);
        transformers.set(tr.id, {
          id: tr.id,
          index: transformers.size,
          sectionId: section.id,
          feederId: section.feederId,
          areaClass: tr.areaClass,
          customers: [...tr.customers],
          customerRanks: new Int32Array(0),
        });
      }
    }
    for (const [id, section] of sections) this.sections.set(id, section);
    for (const [id, transformer] of transformers) this.transformers.set(id, transformer);
    for (const feeder of site.feeders) {
      const breaker = this.switches.get(feeder.breaker);
      if (!breaker || breaker.from !== null) throw new Error(`feeder ${feeder.id}: breaker ${feeder.breaker} is not a bus-fed switch`);
      const own = new Set(feeder.switches.map((s) => s.id));
      const switchIds = feeder.switches.map((s) => s.id);
      for (const section of feeder.sections) {
        for (const sw of sections.get(section.id)?.switches ?? []) {
          if (!own.has(sw)) {
            own.add(sw);
            switchIds.push(sw);
          }
        }
      }
      this.feeders.set(feeder.id, {
        id: feeder.id,
        breaker: feeder.breaker,
        sections: feeder.sections.map((s) => s.id),
        switches: switchIds,
      });
    }
    this.computeDepths();
    this.order = {
      sections: new IdOrder(this.sections.keys()),
      transformers: new IdOrder(this.transformers.keys()),
      customers: new IdOrder(this.transformerOfCustomer.keys()),
    };
    for (const section of sections.values()) section.customerRanks = this.order.customers.ranksOf(section.customers);
    for (const transformer of transformers.values()) {
      transformer.customerRanks = this.order.customers.ranksOf(transformer.customers);
    }
  }

  /** Breadth-first from every bus-fed device along non-tie devices in their normal direction. */
  private computeDepths(): void {
    const queue: string[] = [];
    for (const sw of this.switches.values()) {
      if (sw.from === null) {
        this.depths.set(sw.id, 0);
        queue.push(sw.id);
      }
    }
    for (let head = 0; head < queue.length; head++) {
      const parent = queue[head]!;
      const depth = this.depths.get(parent)!;
      const section = this.sections.get(this.switches.get(parent)!.to)!;
      for (const childId of section.switches) {
        const child = this.switches.get(childId)!;
        if (child.from !== section.id || this.depths.has(childId)) continue;
        this.depths.set(childId, depth + 1);
        // A tie gets a depth for completeness, but nothing is reached through it: it is normally open.
        if (child.kind !== 'tie') queue.push(childId);
      }
    }
  }

  section(id: string): SectionInfo | undefined {
    return this.sections.get(id);
  }

  switchDevice(id: string): SwitchInfo | undefined {
    return this.switches.get(id);
  }

  transformer(id: string): TransformerInfo | undefined {
    return this.transformers.get(id);
  }

  feeder(id: string): FeederInfo | undefined {
    return this.feeders.get(id);
  }

  transformerOf(customerId: string): TransformerInfo | undefined {
    const id = this.transformerOfCustomer.get(customerId);
    return id === undefined ? undefined : this.transformers.get(id);
  }

  sectionIds(): IterableIterator<string> {
    return this.sections.keys();
  }

  switchIds(): IterableIterator<string> {
    return this.switches.keys();
  }

  feederIds(): IterableIterator<string> {
    return this.feeders.keys();
  }

  sectionCount(): number {
    return this.sections.size;
  }

  transformerCount(): number {
    return this.transformers.size;
  }

  customerCount(): number {
    return this.transformerOfCustomer.size;
  }

  /** The section on the other side of `switchId` from `sectionId`; null for the bus side of a breaker. */
  otherSide(switchId: string, sectionId: string): string | null {
    const sw = this.switches.get(switchId);
    if (!sw) return null;
    return sw.to === sectionId ? sw.from : sw.to;
  }

  /** Devices between the feeder breaker and this one along the normal tree; undefined if unreachable. */
  depth(switchId: string): number | undefined {
    return this.depths.get(switchId);
  }

  /**
   * Whether `upstreamId` lies on the normal path from the substation bus to `switchId` (excluding
   * `switchId` itself). Costs the depth of the feeder, not its size.
   */
  isUpstreamOf(upstreamId: string, switchId: string): boolean {
    let current = this.switches.get(switchId);
    const seen = new Set<string>();
    while (current && current.from !== null && !seen.has(current.id)) {
      seen.add(current.id);
      const parentId = this.parentSwitch.get(current.from);
      if (parentId === undefined) return false;
      if (parentId === upstreamId) return true;
      current = this.switches.get(parentId);
    }
    return false;
  }
}
