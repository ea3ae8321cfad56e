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

/** JSON form of an outage record, for `Engine.exportState`. */
export interface OutageRecordState {
  id: string;
  startedAtMs: number;
  cause: OutageCause;
  causeDevice: string | null;
  faultSection: string | null;
  restoredAtMs: number | null;
  kind: OutageKind;
  confidence: OutageConfidence;
  evidence: OutageEvidence[];
  parentId: string | null;
  mergedInto: string | null;
  plannedId: string | null;
  currentSections: string[];
  currentCustomerCount: number;
  sections: string[];
  transformers: string[];
  customers: string[];
  feederIds: string[];
  restorations: RestorationStep[];
  customerMs: number;
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

  exportState(): OutageRecordState {
    return {
      id: this.id,
      startedAtMs: this.startedAtMs,
      cause: this.cause,
      causeDevice: this.causeDevice,
      faultSection: this.faultSection,
      restoredAtMs: this.restoredAtMs,
      kind: this.kind,
      confidence: this.confidence,
      evidence: this.evidence.map((e) => ({ ...e })),
      parentId: this.parentId,
      mergedInto: this.mergedInto,
      plannedId: this.plannedId,
      currentSections: [...this.currentSections],
      currentCustomerCount: this.currentCustomerCount,
      sections: [...this.sections],
      transformers: [...this.transformers],
      customers: [...this.customers],
      feederIds: [...this.feederIds],
      restorations: this.restorations.map((r) => ({ ...r, sections: [...r.sections], transformers: [...r.transformers], customers: [...r.customers] })),
      customerMs: this.customerMs,
    };
  }

  static restore(topology: Topology, state: OutageRecordState): OutageRecord {
    const record = new OutageRecord(topology, state);
    record.restoredAtMs = state.restoredAtMs;
    record.kind = state.kind;
    record.confidence = state.confidence;
    record.evidence.push(...state.evidence.map((e) => ({ ...e })));
    record.parentId = state.parentId;
    record.mergedInto = state.mergedInto;
    record.plannedId = state.plannedId;
    for (const id of state.currentSections) record.currentSections.add(id);
    record.currentCustomerCount = state.currentCustomerCount;
    for (const id of state.sections) record.sections.add(id);
    for (const id of state.transformers) record.transformers.add(id);
    for (const id of state.customers) record.customers.add(id);
    for (const id of state.feederIds) record.feederIds.add(id);
    record.restorations.push(...state.restorations);
    record.customerMs = state.customerMs;
    return record;
  }

  /** Adds evidence unless the same kind about the same subject is already there; returns whether it was added. */
  addEvidence(evidence: OutageEvidence): boolean {
    if (this.evidence.some((e) => e.kind === evidence.kind && e.subject === evidence.subject)) return false;
    this.evidence.push(evidence);
    return true;
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

  /**
   * Closes the outage. An unplanned outage restored within `momentaryThresholdMs` becomes `momentary`
   * (a planned one stays planned).
   */
  markRestored(atMs: number, momentaryThresholdMs: number = -1): void {
    this.restoredAtMs = Math.max(atMs, this.startedAtMs);
    if (this.kind === 'unplanned' && this.restoredAtMs - this.startedAtMs <= momentaryThresholdMs) this.kind = 'momentary';
  }

  /**
   * Closes the outage as swallowed by `intoId` at `atMs`: from then on its customers are counted in that
   * outage. `customerMs` is what this outage accumulated up to the merge.
   */
  markMerged(atMs: number, intoId: string, customerMs: number): void {
    this.restoredAtMs = Math.max(atMs, this.startedAtMs);
    this.mergedInto = intoId;
    this.customerMs += customerMs;
    this.currentSections.clear();
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
      state: this.mergedInto !== null ? 'merged' : restored ? 'restored' : 'active',
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
