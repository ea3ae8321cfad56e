/**
 * Service (distribution) transformers and the low-voltage networks behind them.
 *
 * A transformer is a service transformer when it has a winding above 1 kV and one at or below 1 kV (the
 * IEC 60038 / IEC 60364 low-voltage limit): IEEE 13's XFM1 (4.16/0.48 kV), IEEE 123's XFM1 (4.16/0.48 kV),
 * ckt5's 591 pole transformers (7.2/0.24 kV). Every other transformer (substation transformers, voltage
 * regulators modelled as transformers, transformers without winding voltages) is in series with the feeder
 * and joins its buses into one section (section-builder.ts).
 *
 * The low-voltage network of a service transformer is everything reached from its low-voltage windings'
 * buses over lines (ckt5's service drops `S_...`), never across another transformer. Its loads are the
 * transformer's customers (customer-mapping.ts).
 */
import type { CircuitModel, DssElement } from './circuit-model.js';

export const LOW_VOLTAGE_LIMIT_KV = 1;

export interface ServiceTransformer {
  element: DssElement;
  /** Bus of the first winding above 1 kV: where it hangs on the feeder. */
  primaryBus: string;
  /** Buses of its low-voltage network, windings included. */
  lowVoltageBuses: Set<string>;
  /** Lines of its low-voltage network. */
  lowVoltageLines: DssElement[];
}

export interface LowVoltageSide {
  transformers: ServiceTransformer[];
  /** Which service transformer's low-voltage network a bus belongs to (the first one to reach it). */
  ownerOfBus: Map<string, ServiceTransformer>;
  /** Which service transformer's low-voltage network a line belongs to. */
  ownerOfLine: Map<string, ServiceTransformer>;
}

export function isServiceTransformer(element: DssElement): boolean {
  if (element.cls !== 'transformer' || !element.enabled) return false;
  const kvs = element.kvs.filter((kv): kv is number => kv !== undefined);
  return kvs.some((kv) => kv > LOW_VOLTAGE_LIMIT_KV) && kvs.some((kv) => kv <= LOW_VOLTAGE_LIMIT_KV);
}

export function findLowVoltageSide(model: CircuitModel): LowVoltageSide {
  const linesAtBus = new Map<string, DssElement[]>();
  for (const element of model.elements) {
    if (element.cls !== 'line' || !element.enabled) continue;
    for (const bus of element.buses) {
      if (bus === undefined) continue;
      const list = linesAtBus.get(bus) ?? [];
      list.push(element);
      linesAtBus.set(bus, list);
    }
  }
  const side: LowVoltageSide = { transformers: [], ownerOfBus: new Map(), ownerOfLine: new Map() };
  for (const element of model.elements) {
    if (!isServiceTransformer(element)) continue;
    const primaryIndex = element.kvs.findIndex((kv) => kv !== undefined && kv > LOW_VOLTAGE_LIMIT_KV);
    const primaryBus = element.buses[primaryIndex];
    if (primaryBus === undefined) continue;
    const st: ServiceTransformer = { element, primaryBus, lowVoltageBuses: new Set(), lowVoltageLines: [] };
    const queue: string[] = [];
    element.kvs.forEach((kv, i) => {
      const bus = element.buses[i];
      if (kv !== undefined && kv <= LOW_VOLTAGE_LIMIT_KV && bus !== undefined && !side.ownerOfBus.has(bus)) queue.push(bus);
    });
    for (let head = 0; head < queue.length; head++) {
      const bus = queue[head]!;
      if (side.ownerOfBus.has(bus)) continue;
      side.ownerOfBus.set(bus, st);
      st.lowVoltageBuses.add(bus);
      for (const line of linesAtBus.get(bus) ?? []) {
        if (side.ownerOfLine.has(line.key)) continue;
        side.ownerOfLine.set(line.key, st);
        st.lowVoltageLines.push(line);
        for (const next of line.buses) if (next !== undefined && !side.ownerOfBus.has(next)) queue.push(next);
      }
    }
    side.transformers.push(st);
  }
  return side;
}
