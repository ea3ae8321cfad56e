/**
 * Outages seen only by meters: customers reporting a loss of voltage while the model says their section is
 * energized (a blown transformer fuse, a broken service drop). Only a good reading below the threshold is
 * evidence; an unreachable meter is a communication fault and never reaches this class.
 *
 * Rules:
 * - A loss reading from a customer whose section is dark adds nothing: the switching outage covers it.
 * - At most one meter outage per transformer at a time. It starts with the customer that reported the loss
 *   and grows (outage.updated, never a second outage) with further customers of the same transformer.
 * - It becomes a transformer outage (transformers [T], every customer of T, metered or not) once every
 *   customer of T with a reading since T's section was last energized is at a loss, and at least two are
 *   (or T has a single customer): one meter alone is too weak to call a transformer out.
 * - Restoration is per customer, on a good reading. The first good reading under a transformer outage shows
 *   the transformer is live again: that customer and the customers that never had a meter reading come
 *   back with it (step with transformers [T]); metered customers come back on their own good readings.
 * - Readings taken before a section was energized say nothing about its new state, so energizing a section
 *   starts a new reading epoch for its transformers (cost per transformer, not per customer).
 * - Nested outages: when a meter outage's section goes dark and comes back, the meter outage stays open
 *   until its own customers report voltage again.
 */
import type { OutageIds } from './outage-ids.js';
import { OutageRecord, type OutageChange } from './outage-record.js';
import type { Topology, TransformerInfo } from './topology.js';

interface TransformerReadings {
  epoch: number;
  readCount: number;
  lossCount: number;
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

export class MeterOutageTracker {
  private readonly readings = new Map<string, CustomerReading>();
  private readonly perTransformer = new Map<string, TransformerReadings>();
  /** Customers that have a meter that ever reported a voltage. */
  private readonly metered = new Set<string>();
  /** Active meter outages by transformer, in creation order. */
  private readonly active = new Map<string, MeterOutage>();

  constructor(
    private readonly topology: Topology,
    private readonly ids: OutageIds,
    private readonly voltageLossV: number,
  ) {}

  activeOutages(): MeterOutage[] {
    return [...this.active.values()];
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

  private remember(customerId: string, transformerId: string, loss: boolean): void {
    let counts = this.perTransformer.get(transformerId);
    if (!counts) {
      counts = { epoch: 0, readCount: 0, lossCount: 0 };
      this.perTransformer.set(transformerId, counts);
    }
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
    this.metered.add(customerId);
  }

  private isTransformerOut(transformer: TransformerInfo): boolean {
    const counts = this.perTransformer.get(transformer.id);
    if (!counts || counts.lossCount !== counts.readCount) return false;
    return counts.lossCount >= 2 || (counts.lossCount === 1 && transformer.customers.length === 1);
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
    if (this.isTransformerOut(transformer)) this.escalate(outage, transformer, atMs);
    this.active.set(transformer.id, outage);
    return record.change('outage.started', atMs);
  }

  private grow(outage: MeterOutage, transformer: TransformerInfo, customerId: string, atMs: number): OutageChange[] {
    if (outage.wholeTransformer) return [];
    let changed = this.addCustomer(outage, customerId, atMs);
    if (this.isTransformerOut(transformer)) {
      this.escalate(outage, transformer, atMs);
      changed = true;
    }
    return changed ? [outage.record.change('outage.updated', atMs)] : [];
  }

  private addCustomer(outage: MeterOutage, customerId: string, atMs: number): boolean {
    if (outage.out.has(customerId)) return false;
    outage.out.set(customerId, atMs);
    outage.record.affectCustomer(customerId);
    outage.record.currentCustomerCount = outage.out.size;
    return true;
  }

  private escalate(outage: MeterOutage, transformer: TransformerInfo, atMs: number): void {
    outage.wholeTransformer = true;
    for (const id of transformer.customers) if (!outage.out.has(id)) outage.out.set(id, atMs);
    outage.record.affectTransformer(transformer.id);
    outage.record.currentCustomerCount = outage.out.size;
  }

  private customerBack(outage: MeterOutage, transformer: TransformerInfo, customerId: string, atMs: number): OutageChange[] {
    const back: string[] = [];
    const transformers: string[] = [];
    if (outage.wholeTransformer) {
      outage.wholeTransformer = false;
      transformers.push(transformer.id);
      for (const id of outage.out.keys()) if (id === customerId || !this.metered.has(id)) back.push(id);
    } else if (outage.out.has(customerId)) {
      back.push(customerId);
    }
    if (back.length === 0) return [];
    let customerMs = 0;
    for (const id of back) {
      customerMs += Math.max(0, atMs - outage.out.get(id)!);
      outage.out.delete(id);
    }
    const record = outage.record;
    record.currentCustomerCount = outage.out.size;
    record.addRestorationStep(atMs, { sections: [], transformers, customers: back }, customerMs);
    if (outage.out.size > 0) return [record.change('outage.updated', atMs)];
    record.markRestored(atMs);
    this.active.delete(transformer.id);
    return [record.change('outage.restored', atMs)];
  }
}
