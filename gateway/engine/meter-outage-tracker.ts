/**
 * Outages seen only by meters and transformer terminal units (TTUs): customers or transformers without
 * supply while the model says their section is energized (a blown transformer fuse, a broken service
 * drop). The engine holds every loss for `meterLossHoldMs` before handing it here, so a switch trip polled
 * late explains it instead.
 *
 * Evidence (see docs/outages.md):
 * - a good meter reading below the loss threshold (`meterVoltageLoss`, strong);
 * - a meter that stopped answering (`meterSilent`, weak: RS-485 and PLC links fail often). A silent meter
 *   alone never starts an outage; it only counts toward its transformer's share;
 * - a good TTU reading below the threshold (`transformerVoltageLoss`, strong: the transformer is out).
 *
 * Rules:
 * - A loss reading from a customer whose section is dark adds nothing: the switching outage covers it.
 * - At most one meter outage per transformer at a time. It starts with the customer that reported the loss
 *   and grows (outage.updated, never a second outage) with further customers of the same transformer.
 * - It becomes a transformer outage (cause `transformerOut`, transformers [T], every customer of T, metered
 *   or not) when the lost customers of T (loss readings since T's section was last energized, plus silent
 *   meters) are at least `transformerOutShare` of T's metered customers (customers whose meter ever
 *   answered) and at least two (or T has a single customer that reported a loss): `inferred`. A TTU loss
 *   makes it a transformer outage at once, `measured`. Silent meters alone can start a transformer outage.
 * - Restoration is per customer, on a good reading (or the meter answering again). The first sign of life
 *   under a transformer outage (a good meter reading, a meter answering, a good TTU reading) shows the
 *   transformer is live again: every customer of T comes back with it (step with transformers [T]) except
 *   those whose own meter reported a loss since T's section was energized; they come back on their own.
 * - Readings taken before a section was energized say nothing about its new state, so energizing a section
 *   starts a new reading epoch for its transformers (cost per transformer, not per customer). Silence is a
 *   state, not a reading: it lasts until the meter answers.
 * - Nested outages: when a meter outage's section goes dark and comes back, the meter outage stays open
 *   until its own customers report voltage again. A meter outage can also be merged into an upstream one.
 */
import { isoTime, OutageRecord, type OutageChange, type OutageRecordState } from './outage-record.js';
import type { OutageIds } from './outage-ids.js';
import type { TrackerHooks } from './outage-tracker.js';
import type { Topology, TransformerInfo } from './topology.js';

interface TransformerReadings {
  epoch: number;
  readCount: number;
  lossCount: number;
  /** Customers of the transformer whose meter ever answered. */
  meteredCount: number;
  /** Customers of the transformer whose meter is silent now. */
  silentCount: number;
}

interface CustomerReading {
  epoch: number;
  loss: boolean;
}

export interface MeterOutage {
  record: OutageRecord;
  transformerId: string;
  wholeTransformer: boolean;
  /** Customers still out -> when they went out. */
  out: Map<string, number>;
}

export interface MeterOutageTrackerState {
  readings: Array<{ customer: string; epoch: number; loss: boolean }>;
  perTransformer: Array<{ transformer: string } & TransformerReadings>;
  metered: string[];
  silent: Array<{ customer: string; sinceMs: number }>;
  active: Array<{ record: OutageRecordState; transformerId: string; wholeTransformer: boolean; out: Array<[string, number]> }>;
}

export class MeterOutageTracker {
  private readonly readings = new Map<string, CustomerReading>();
  private readonly perTransformer = new Map<string, TransformerReadings>();
  /** Customers that have a meter that ever answered. */
  private readonly metered = new Set<string>();
  /** Customers whose meter does not answer, since when. */
  private readonly silent = new Map<string, number>();
  /** Active meter outages by transformer, in creation order. */
  private readonly active = new Map<string, MeterOutage>();

  constructor(
    private readonly topology: Topology,
    private readonly ids: OutageIds,
    private readonly voltageLossV: number,
    private readonly transformerOutShare: number,
    private readonly hooks: TrackerHooks,
  ) {}

  activeOutages(): MeterOutage[] {
    return [...this.active.values()];
  }

  outageOfTransformer(transformerId: string): MeterOutage | undefined {
    return this.active.get(transformerId);
  }

  isSilent(customerId: string): boolean {
    return this.silent.has(customerId);
  }

  /** Silent customers of a transformer (cost: its customers). */
  silentCustomers(transformer: TransformerInfo): string[] {
    return transformer.customers.filter((c) => this.silent.has(c));
  }

  /** A good voltage reading of a known customer; `sectionEnergized` is the model's state of its section. */
  onVoltage(customerId: string, volts: number, atMs: number, sectionEnergized: boolean): OutageChange[] {
    const transformer = this.topology.transformerOf(customerId)!;
    const loss = volts < this.voltageLossV;
    this.remember(customerId, transformer.id, loss);
    const outage = this.active.get(transformer.id);
    if (!loss) return outage ? this.customerBack(outage, transformer, customerId, atMs) : [];
    if (!sectionEnergized) return [];
    if (!outage) return [this.start(transformer, customerId, atMs)];
    return this.grow(outage, transformer, customerId, atMs);
  }

  /**
   * A meter answered or stopped answering. Going silent records the silence only (`evaluate` decides,
   * after the hold); answering again is a sign of life: it brings the customer (and a whole-transformer
   * outage) back.
   */
  onReachable(customerId: string, reachable: boolean, atMs: number): OutageChange[] {
    const transformer = this.topology.transformerOf(customerId)!;
    const counts = this.countsOf(transformer.id);
    this.markMetered(customerId, counts);
    if (!reachable) {
      if (!this.silent.has(customerId)) {
        this.silent.set(customerId, atMs);
        counts.silentCount++;
      }
      return [];
    }
    if (this.silent.delete(customerId)) counts.silentCount--;
    const outage = this.active.get(transformer.id);
    return outage ? this.customerBack(outage, transformer, customerId, atMs) : [];
  }

  /**
   * Whether the silent and lost meters of `transformer` reach the share. `atMs` is when the decision is
   * taken; the outage starts at `sinceMs` (the earliest loss or silence counted, at the latest when the
   * section was energized). Returns the changes (a new or escalated transformer outage).
   */
  evaluate(transformer: TransformerInfo, atMs: number, sinceMs: number): OutageChange[] {
    if (!this.isTransformerOut(transformer)) return [];
    const outage = this.active.get(transformer.id);
    if (outage) {
      if (outage.wholeTransformer) return [];
      this.escalate(outage, transformer, atMs, false);
      return [outage.record.change('outage.updated', atMs)];
    }
    return [this.startWhole(transformer, sinceMs, atMs, false)];
  }

  /** A TTU reported a good reading: below the threshold the transformer is out (measured), above it is live. */
  onTransformerVoltage(transformer: TransformerInfo, volts: number, atMs: number, sinceMs: number, sectionEnergized: boolean): OutageChange[] {
    const outage = this.active.get(transformer.id);
    if (volts >= this.voltageLossV) return outage ? this.transformerBack(outage, transformer, atMs) : [];
    if (!sectionEnergized) return [];
    const evidence = { at: isoTime(sinceMs), kind: 'transformerVoltageLoss' as const, subject: transformer.id, detail: `${volts} V` };
    if (!outage) {
      const change = this.startWhole(transformer, sinceMs, atMs, true);
      this.active.get(transformer.id)!.record.addEvidence(evidence);
      change.outage.evidence.push(evidence);
      return [change];
    }
    const changed = outage.record.addEvidence(evidence) || !outage.wholeTransformer || outage.record.confidence !== 'measured';
    this.escalate(outage, transformer, atMs, true);
    return changed ? [outage.record.change('outage.updated', atMs)] : [];
  }

  /** The sections were energized: readings taken before say nothing about their transformers now. */
  forgetReadings(sections: readonly string[]): void {
    for (const id of sections) {
      for (const transformerId of this.topology.section(id)?.transformers ?? []) {
        const counts = this.perTransformer.get(transformerId);
        if (!counts) continue;
        counts.epoch++;
        counts.readCount = 0;
        counts.lossCount = 0;
      }
    }
  }

  /**
   * The outage of `transformerId` is swallowed by the upstream outage `intoId` (its section went dark with
   * it): closed as `merged` at `atMs`.
   */
  merge(transformerId: string, intoId: string, atMs: number): OutageChange[] {
    const outage = this.active.get(transformerId);
    if (!outage) return [];
    let customerMs = 0;
    for (const since of outage.out.values()) customerMs += Math.max(0, atMs - since);
    outage.out.clear();
    outage.record.currentCustomerCount = 0;
    outage.record.markMerged(atMs, intoId, customerMs);
    this.active.delete(transformerId);
    return [outage.record.change('outage.updated', atMs)];
  }

  exportState(): MeterOutageTrackerState {
    return {
      readings: [...this.readings].map(([customer, r]) => ({ customer, epoch: r.epoch, loss: r.loss })),
      perTransformer: [...this.perTransformer].map(([transformer, c]) => ({ transformer, ...c })),
      metered: [...this.metered],
      silent: [...this.silent].map(([customer, sinceMs]) => ({ customer, sinceMs })),
      active: [...this.active.values()].map((o) => ({
        record: o.record.exportState(),
        transformerId: o.transformerId,
        wholeTransformer: o.wholeTransformer,
        out: [...o.out],
      })),
    };
  }

  importState(state: MeterOutageTrackerState): void {
    this.readings.clear();
    this.perTransformer.clear();
    this.metered.clear();
    this.silent.clear();
    this.active.clear();
    for (const r of state.readings) this.readings.set(r.customer, { epoch: r.epoch, loss: r.loss });
    for (const { transformer, ...counts } of state.perTransformer) this.perTransformer.set(transformer, counts);
    for (const c of state.metered) this.metered.add(c);
    for (const s of state.silent) this.silent.set(s.customer, s.sinceMs);
    for (const o of state.active) {
      this.active.set(o.transformerId, {
        record: OutageRecord.restore(this.topology, o.record),
        transformerId: o.transformerId,
        wholeTransformer: o.wholeTransformer,
        out: new Map(o.out),
      });
    }
  }

  private countsOf(transformerId: string): TransformerReadings {
    let counts = this.perTransformer.get(transformerId);
    if (!counts) {
      counts = { epoch: 0, readCount: 0, lossCount: 0, meteredCount: 0, silentCount: 0 };
      this.perTransformer.set(transformerId, counts);
    }
    return counts;
  }

  private markMetered(customerId: string, counts: TransformerReadings): void {
    if (this.metered.has(customerId)) return;
    this.metered.add(customerId);
    counts.meteredCount++;
  }

  private remember(customerId: string, transformerId: string, loss: boolean): void {
    const counts = this.countsOf(transformerId);
    // A reading is an answer: the meter is not silent.
    if (this.silent.delete(customerId)) counts.silentCount--;
    const previous = this.readings.get(customerId);
    if (previous && previous.epoch === counts.epoch) {
      if (previous.loss) counts.lossCount--;
    } else {
      counts.readCount++;
    }
    if (loss) counts.lossCount++;
    if (previous) {
      previous.epoch = counts.epoch;
      previous.loss = loss;
    } else {
      this.readings.set(customerId, { epoch: counts.epoch, loss });
    }
    this.markMetered(customerId, counts);
  }

  private hasLossReading(customerId: string, transformerId: string): boolean {
    const reading = this.readings.get(customerId);
    const counts = this.perTransformer.get(transformerId);
    return reading !== undefined && counts !== undefined && reading.epoch === counts.epoch && reading.loss;
  }

  private isTransformerOut(transformer: TransformerInfo): boolean {
    const counts = this.perTransformer.get(transformer.id);
    if (!counts) return false;
    const lost = counts.lossCount + counts.silentCount;
    if (lost === 0 || lost < this.transformerOutShare * counts.meteredCount - 1e-9) return false;
    return lost >= 2 || (counts.lossCount === 1 && transformer.customers.length === 1);
  }

  private start(transformer: TransformerInfo, customerId: string, atMs: number): OutageChange {
    const record = new OutageRecord(this.topology, {
      id: this.ids.next(atMs, customerId),
      cause: 'meterVoltageLoss',
      causeDevice: null,
      faultSection: null,
      startedAtMs: atMs,
    });
    const outage: MeterOutage = { record, transformerId: transformer.id, wholeTransformer: false, out: new Map() };
    this.addCustomer(outage, customerId, atMs);
    if (this.isTransformerOut(transformer)) this.escalate(outage, transformer, atMs, false);
    this.active.set(transformer.id, outage);
    this.hooks.onStart(record);
    return record.change('outage.started', atMs);
  }

  /** A transformer outage found without a meter outage before it (silent meters, a TTU). */
  private startWhole(transformer: TransformerInfo, sinceMs: number, atMs: number, measured: boolean): OutageChange {
    const record = new OutageRecord(this.topology, {
      id: this.ids.next(sinceMs, transformer.id),
      cause: 'transformerOut',
      causeDevice: null,
      faultSection: null,
      startedAtMs: sinceMs,
    });
    const outage: MeterOutage = { record, transformerId: transformer.id, wholeTransformer: false, out: new Map() };
    this.escalate(outage, transformer, sinceMs, measured);
    this.active.set(transformer.id, outage);
    this.hooks.onStart(record);
    return record.change('outage.started', atMs);
  }

  private grow(outage: MeterOutage, transformer: TransformerInfo, customerId: string, atMs: number): OutageChange[] {
    if (outage.wholeTransformer) {
      // Already counted with the transformer; the reading is more evidence, shown with the next change.
      outage.record.addEvidence({ at: isoTime(atMs), kind: 'meterVoltageLoss', subject: customerId });
      return [];
    }
    let changed = this.addCustomer(outage, customerId, atMs);
    if (this.isTransformerOut(transformer)) {
      this.escalate(outage, transformer, atMs, false);
      changed = true;
    }
    return changed ? [outage.record.change('outage.updated', atMs)] : [];
  }

  private addCustomer(outage: MeterOutage, customerId: string, atMs: number): boolean {
    if (outage.out.has(customerId)) return false;
    outage.out.set(customerId, atMs);
    outage.record.affectCustomer(customerId);
    outage.record.currentCustomerCount = outage.out.size;
    outage.record.addEvidence({ at: isoTime(atMs), kind: 'meterVoltageLoss', subject: customerId });
    return true;
  }

  private escalate(outage: MeterOutage, transformer: TransformerInfo, atMs: number, measured: boolean): void {
    const record = outage.record;
    for (const id of transformer.customers) {
      const silentSince = this.silent.get(id);
      if (silentSince !== undefined) record.addEvidence({ at: isoTime(silentSince), kind: 'meterSilent', subject: id });
    }
    const ttu = measured || record.evidence.some((e) => e.kind === 'transformerVoltageLoss');
    if (transformer.customers.length === 1 && !ttu) {
      // A single-customer transformer whose only meter reads 0 V: still a single-customer outage (the
      // service drop or the transformer, the meter cannot tell), measured. It does not roll up.
      record.confidence = 'measured';
    } else {
      record.confidence = ttu ? 'measured' : 'inferred';
      record.cause = 'transformerOut';
    }
    outage.wholeTransformer = true;
    for (const id of transformer.customers) if (!outage.out.has(id)) outage.out.set(id, atMs);
    record.affectTransformer(transformer.id);
    record.currentCustomerCount = outage.out.size;
  }

  private customerBack(outage: MeterOutage, transformer: TransformerInfo, customerId: string, atMs: number): OutageChange[] {
    if (outage.wholeTransformer) return this.transformerBack(outage, transformer, atMs, customerId);
    if (!outage.out.has(customerId)) return [];
    return this.bringBack(outage, transformer, [customerId], [], atMs);
  }

  /** The transformer is live again: all its customers come back except those whose meter reads a loss. */
  private transformerBack(outage: MeterOutage, transformer: TransformerInfo, atMs: number, sign?: string): OutageChange[] {
    outage.wholeTransformer = false;
    const back: string[] = [];
    for (const id of outage.out.keys()) {
      if (id === sign || !this.hasLossReading(id, transformer.id)) back.push(id);
    }
    return this.bringBack(outage, transformer, back, [transformer.id], atMs);
  }

  private bringBack(outage: MeterOutage, transformer: TransformerInfo, back: string[], transformers: string[], atMs: number): OutageChange[] {
    if (back.length === 0 && transformers.length === 0) return [];
    let customerMs = 0;
    for (const id of back) {
      customerMs += Math.max(0, atMs - outage.out.get(id)!);
      outage.out.delete(id);
    }
    const record = outage.record;
    record.currentCustomerCount = outage.out.size;
    record.addRestorationStep(atMs, { sections: [], transformers, customers: back }, customerMs);
    if (outage.out.size > 0) return [record.change('outage.updated', atMs)];
    record.markRestored(atMs, this.hooks.momentaryThresholdMs);
    this.active.delete(transformer.id);
    return [record.change('outage.restored', atMs)];
  }
}
