/**
 * The site's transformers and customers: every service transformer becomes a transformer on the section of
 * its primary bus, with the loads of its low-voltage network as customers (one customer per load: ckt5's
 * loads are single houses). Loads connected straight to the medium-voltage network (IEEE 13 and 123 model
 * lumped spot loads that way) have no transformer in the file; the loads of one bus become one synthesized
 * transformer `T-<bus>` on that bus's section, said in the report.
 *
 * With `customersPerTransformer` the loads only count towards their transformer, and each transformer gets
 * that many generated customers `<transformer>-C1`..`-CN` instead (for feeders whose loads are lumped).
 */
import type { CircuitModel, DssElement } from './circuit-model.js';
import type { ElementLedger } from './element-ledger.js';
import type { SectionLayout } from './section-builder.js';
import type { LowVoltageSide, ServiceTransformer } from './service-transformers.js';
import type { IdAllocator } from './site-ids.js';

export interface MappedTransformer {
  id: string;
  /** Index into the layout's sections. */
  section: number;
  /** Bus it hangs on (medium-voltage side). */
  bus: string;
  customers: string[];
  /** The DSS transformer, or undefined when synthesized for loads without one. */
  element?: DssElement;
  loads: DssElement[];
}

export interface CustomerMapping {
  transformers: MappedTransformer[];
  /** Buses whose loads got a synthesized transformer. */
  synthesizedForBuses: string[];
}

/** Elements that inject power: the site model has no generation. */
const GENERATION = new Set(['generator', 'pvsystem', 'storage', 'isource', 'windgen', 'generic5']);

export function mapCustomers(
  model: CircuitModel,
  layout: SectionLayout,
  lowVoltage: LowVoltageSide,
  ledger: ElementLedger,
  ids: { transformers: IdAllocator; customers: IdAllocator },
  customersPerTransformer: number | undefined,
): CustomerMapping {
  const transformers: MappedTransformer[] = [];
  const byService = new Map<ServiceTransformer, MappedTransformer>();
  for (const st of lowVoltage.transformers) {
    const section = layout.sectionOfBus.get(st.primaryBus);
    if (section === undefined) {
      ledger.unmapped(st.element, `service transformer on bus ${st.primaryBus}, which is not connected to the source of the circuit`);
      continue;
    }
    const mapped: MappedTransformer = { id: ids.transformers.allocate(st.element.name), section, bus: st.primaryBus, customers: [], element: st.element, loads: [] };
    transformers.push(mapped);
    byService.set(st, mapped);
  }

  const byBus = new Map<string, MappedTransformer>();
  const synthesizedForBuses: string[] = [];
  for (const element of model.elements) {
    if (GENERATION.has(element.cls)) {
      ledger.unmapped(element, 'generation and storage are not part of the site model');
      continue;
    }
    if (element.cls !== 'load') continue;
    if (!element.enabled) {
      ledger.unmapped(element, `disabled (enabled=${element.props.get('enabled')}): not a customer`);
      continue;
    }
    const bus = element.buses[0];
    if (bus === undefined) {
      ledger.unmapped(element, 'has no bus1');
      continue;
    }
    const st = lowVoltage.ownerOfBus.get(bus);
    let target: MappedTransformer | undefined;
    if (st !== undefined) {
      target = byService.get(st);
      if (target === undefined) {
        ledger.unmapped(element, `behind service transformer ${st.element.name}, which is not connected to the source`);
        continue;
      }
    } else {
      const section = layout.sectionOfBus.get(bus);
      if (section === undefined) {
        ledger.unmapped(element, `on bus ${model.busNames.get(bus) ?? bus}, which is not connected to the source of the circuit`);
        continue;
      }
      target = byBus.get(bus);
      if (target === undefined) {
        target = { id: ids.transformers.allocate(`T-${model.busNames.get(bus) ?? bus}`), section, bus, customers: [], loads: [] };
        byBus.set(bus, target);
        transformers.push(target);
        synthesizedForBuses.push(bus);
      }
    }
    target.loads.push(element);
    if (customersPerTransformer === undefined) {
      const customer = ids.customers.allocate(element.name);
      target.customers.push(customer);
      ledger.mapped(element, `customer ${customer} of transformer ${target.id}`);
    } else {
      ledger.mapped(element, `counted under transformer ${target.id} (customers generated per transformer)`);
    }
  }

  if (customersPerTransformer !== undefined) {
    for (const t of transformers) {
      for (let k = 1; k <= customersPerTransformer; k++) t.customers.push(ids.customers.allocate(`${t.id}-C${k}`));
    }
  }
  for (const t of transformers) {
    if (t.element !== undefined) ledger.mapped(t.element, `transformer ${t.id} (${t.loads.length} load${t.loads.length === 1 ? '' : 's'})`);
  }
  return { transformers, synthesizedForBuses };
}
