/**
 * The mutable state of one outage inside the engine, and the immutable `Outage` snapshot published in
 * events. What is still out is kept by the tracker that owns the record (sections for a switching outage,
 * customers for a meter outage); the record keeps what was ever affected, the restoration steps and the
 * customer-minutes accumulated so far.
 *
 * An affected section stands for all its transformers and customers: they are expanded only when a
 * snapshot is built (and cached until the outage grows), so darkening a section costs one set insertion,
 * not one per customer.
 */
import type { OutageCause, OutageConfidence, OutageEvidence, OutageKind, Outage, RestorationStep } from './events.js';
import type { Topology } from './topology.js';

export interface OutageOrigin {
  id: string;
  cause: OutageCause;
  causeDevice: string | null;
  faultSection: string | null;
  startedAtMs: number;
}

/** One thing that happened to an outage, before the engine wraps it in a sequenced event. */
export interface OutageChange {
  type: 'outage.started' | 'outage.updated' | 'outage.restored';
  atMs: number;
  outage: Outage;
}

export interface StepContent {
  /** Sections that came back, with all their transformers and customers. */
  sections?: readonly string[];
  /** Transformers and customers that came back besides those of `sections`. */
  transformers?: readonly string[];
  customers?: readonly string[];
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

interface Expanded {
  sections: string[];
  transformers: string[];
  customers: string[];
  feederIds: string[];
}

export class OutageRecord {
  readonly id: string;
  readonly startedAtMs: number;
  cause: OutageCause;
  causeDevice: string | null;
  faultSection: string | null;
  restoredAtMs: number | null = null;
  kind: OutageKind = 'unplanned';
  confidence: OutageConfidence = 'measured';
  readonly evidence: OutageEvidence[] = [];
  parentId: string | null = null;
  mergedInto: string | null = null;
  plannedId: string | null = null;
  /** Sections still dark (empty for a meter outage, which is about customers on live sections). */
  readonly currentSections = new Set<string>();
  currentCustomerCount = 0;
  private readonly sections = new Set<string>();
  private readonly transformers = new Set<string>();
  private readonly customers = new Set<string>();
  private readonly feederIds = new Set<string>();
  private readonly restorations: RestorationStep[] = [];
  private customerMs = 0;
  /** Sorted expansion of what was ever affected; rebuilt only after the outage grows. */
  private expanded: Expanded | null = null;

  constructor(
    private readonly topology: Topology,
    origin: OutageOrigin,
  ) {
    this.id = origin.id;
    this.cause = origin.cause;
    this.causeDevice = origin.causeDevice;
    this.faultSection = origin.faultSection;
    this.startedAtMs = origin.startedAtMs;
  }

  hasEverAffectedSection(sectionId: string): boolean {
    return this.sections.has(sectionId);
  }

  everAffectedSections(): ReadonlySet<string> {
    return this.sections;
  }

  /** Adds sections (with all their transformers and customers) to what was ever affected. */
  affectSections(ids: Iterable<string>): void {
    for (const id of ids) {
      if (this.sections.has(id)) continue;
      const section = this.topology.section(id);
      if (!section) continue;
      this.sections.add(id);
      this.feederIds.add(section.feederId);
      this.expanded = null;
    }
  }

  /** Adds a transformer (with all its customers) to what was ever affected. */
  affectTransformer(id: string): void {
    const transformer = this.topology.transformer(id);
    if (!transformer || this.transformers.has(id)) return;
    this.transformers.add(id);
    this.feederIds.add(transformer.feederId);
    this.expanded = null;
  }

  /** Adds single customers to what was ever affected. */
  affectCustomer(id: string): void {
    const transformer = this.topology.transformerOf(id);
    if (!transformer || this.customers.has(id)) return;
    this.customers.add(id);
    this.feederIds.add(transformer.feederId);
    this.expanded = null;
  }

  /**
   * Records supply coming back. `customerMs` is the sum over the customers of how long each was out in
   * this outage; the tracker clamps each interval so out-of-order timestamps never count negative time.
   */
  addRestorationStep(atMs: number, content: StepContent, customerMs: number): void {
    const expanded = this.expand(content.sections ?? [], content.transformers ?? [], content.customers ?? [], false);
    this.restorations.push({ at: isoTime(atMs), ...expanded });
    this.customerMs += customerMs;
  }

  markRestored(atMs: number): void {
    this.restoredAtMs = Math.max(atMs, this.startedAtMs);
  }

  change(type: OutageChange['type'], atMs: number): OutageChange {
    return { type, atMs, outage: this.snapshot() };
  }

  snapshot(): Outage {
    if (!this.expanded) {
      this.expanded = {
        ...this.expand(this.sections, this.transformers, this.customers, true),
        feederIds: [...this.feederIds].sort(),
      };
    }
    const ever = this.expanded;
    const restored = this.restoredAtMs !== null;
    return {
      id: this.id,
      siteId: this.topology.siteId,
      state: restored ? 'restored' : 'active',
      kind: this.kind,
      cause: this.cause,
      confidence: this.confidence,
      evidence: this.evidence.map((e) => ({ ...e })),
      parentId: this.parentId,
      mergedInto: this.mergedInto,
      plannedId: this.plannedId,
      causeDevice: this.causeDevice,
      faultSection: this.faultSection,
      startedAt: isoTime(this.startedAtMs),
      restoredAt: this.restoredAtMs === null ? null : isoTime(this.restoredAtMs),
      durationMs: this.restoredAtMs === null ? null : this.restoredAtMs - this.startedAtMs,
      feederIds: [...ever.feederIds],
      sections: [...ever.sections],
      transformers: [...ever.transformers],
      customers: [...ever.customers],
      customerCount: ever.customers.length,
      currentSections: restored ? [] : this.topology.order.sections.sort([this.currentSections]),
      currentCustomerCount: restored ? 0 : this.currentCustomerCount,
      restorations: this.restorations.map((step) => ({
        at: step.at,
        sections: [...step.sections],
        transformers: [...step.transformers],
        customers: [...step.customers],
      })),
      customerMinutes: restored ? this.customerMs / 60_000 : null,
    };
  }

  /**
   * Sorted, distinct ids of the sections and of everything they carry, plus the extra ones given. An
   * affected transformer stands for all its customers; in a restoration step it only says the transformer
   * is live again while its metered customers may still come back one by one.
   */
  private expand(
    sections: Iterable<string>,
    transformers: Iterable<string>,
    customers: Iterable<string>,
    transformersCarryCustomers: boolean,
  ): Omit<RestorationStep, 'at'> {
    const transformerGroups: Iterable<string>[] = [transformers];
    const customerRanks: Int32Array[] = [];
    for (const id of sections) {
      const section = this.topology.section(id);
      if (!section) continue;
      transformerGroups.push(section.transformers);
      customerRanks.push(section.customerRanks);
    }
    if (transformersCarryCustomers) {
      for (const id of transformers) {
        const transformer = this.topology.transformer(id);
        if (transformer) customerRanks.push(transformer.customerRanks);
      }
    }
    const order = this.topology.order;
    return {
      sections: order.sections.sort([sections]),
      transformers: order.transformers.sort(transformerGroups),
      customers: order.customers.sort([customers], customerRanks),
    };
  }
}
