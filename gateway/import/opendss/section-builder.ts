/**
 * Sections: the connected components of medium-voltage buses joined by non-switching elements, and the
 * switching devices between them, oriented from the source side to the load side.
 *
 * What joins buses into one section: enabled lines that are not switching devices; enabled transformers that
 * are not service transformers (substation transformers and voltage regulators are in series with the
 * feeder, and the site model has no place for them but inside a section); series reactors and capacitors
 * (a `bus2` on another bus: ckt5's MDV_SUB_1_HSB reactor). Service transformers and their low-voltage networks
 * are not part of any section: they become the site's transformers (customer-mapping.ts).
 *
 * Orientation: a breadth-first walk from the source's section crosses normally closed devices first, and a
 * normally open one only when nothing else is left to reach; the side reached first is each device's `from`.
 * A normally open device whose two sides are both reached otherwise closes a loop: it is a `tie`.
 * Buses the walk never reaches (only joined through disabled elements) are orphans: what sits on them is
 * listed as not mapped.
 */
import type { SwitchKind, SwitchState } from '../../config/site-config.js';
import type { CircuitModel, DssElement } from './circuit-model.js';
import type { ElementLedger } from './element-ledger.js';
import type { LowVoltageSide } from './service-transformers.js';
import type { IdAllocator } from './site-ids.js';
import type { DetectedSwitch } from './switching-devices.js';

export interface Section {
  id: string;
  /** The bus the section is entered at from the source side (the source's bus for the first section). */
  headBus: string;
  /** Lower-case bus names, head bus first, then in name order. */
  buses: string[];
}

export interface PlacedSwitch {
  id: string;
  detected: DetectedSwitch;
  kind: SwitchKind;
  normal: SwitchState;
  /** Index into `sections`. */
  from: number;
  to: number;
  /** Bus on the `from` side, for the drawing position. */
  fromBus: string;
}

export interface SectionLayout {
  source: DssElement;
  sourceBus: string;
  /** Index 0 is the source's section. */
  sections: Section[];
  sectionOfBus: Map<string, number>;
  /** In the order the walk placed them. */
  switches: PlacedSwitch[];
}

export class TopologyError extends Error {
  override name = 'TopologyError';
}

class UnionFind {
  private readonly parent = new Map<string, string>();

  add(x: string): void {
    if (!this.parent.has(x)) this.parent.set(x, x);
  }

  find(x: string): string {
    this.add(x);
    let root = x;
    while (this.parent.get(root) !== root) root = this.parent.get(root)!;
    for (let y = x; y !== root; ) {
      const next = this.parent.get(y)!;
      this.parent.set(y, root);
      y = next;
    }
    return root;
  }

  union(a: string, b: string): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent.set(rb, ra);
  }

  members(): IterableIterator<string> {
    return this.parent.keys();
  }
}

export function buildSections(
  model: CircuitModel,
  switches: Map<string, DetectedSwitch>,
  lowVoltage: LowVoltageSide,
  ledger: ElementLedger,
  sectionIds: IdAllocator,
  switchIds: IdAllocator,
): SectionLayout {
  const sources = model.elements.filter((e) => e.cls === 'vsource');
  const source = sources.find((e) => e.enabled);
  if (source === undefined) throw new TopologyError('the circuit has no source (New Circuit.<name> or an enabled Vsource): nothing to feed the feeder from');
  const sourceBus = source.buses[0]!;
  ledger.mapped(source, 'the feeder source: the synthesized feeder breaker feeds its section');
  for (const other of sources) if (other !== source) ledger.unmapped(other, 'a second source: the import makes one feeder, fed by the first source');

  const isLowVoltage = (bus: string): boolean => lowVoltage.ownerOfBus.has(bus);
  const buses = new UnionFind();
  const conductors: Array<{ element: DssElement; buses: string[] }> = [];
  const activeSwitches: DetectedSwitch[] = [];

  for (const element of model.elements) {
    const defined = element.buses.filter((b): b is string => b !== undefined);
    const lowVoltageOwner = lowVoltage.ownerOfLine.get(element.key);
    if (element.cls === 'line') {
      const sw = switches.get(element.key);
      if (lowVoltageOwner !== undefined) {
        if (sw !== undefined) switches.delete(element.key);
        ledger.mapped(element, `low-voltage line of service transformer ${lowVoltageOwner.element.name}${sw ? ' (a switching device there: the site model has none on the low-voltage side)' : ''}`);
        continue;
      }
      if (sw !== undefined) {
        activeSwitches.push(sw);
        continue;
      }
      if (!element.enabled) {
        ledger.unmapped(element, `disabled (enabled=${element.props.get('enabled')}) and not a switching device: out of service, not part of the topology`);
        continue;
      }
      conductors.push({ element, buses: defined });
    } else if (element.cls === 'transformer' || element.cls === 'autotrans') {
      if (lowVoltage.transformers.some((t) => t.element === element)) continue;
      if (!element.enabled) {
        ledger.unmapped(element, `disabled (enabled=${element.props.get('enabled')}): out of service`);
        continue;
      }
      if (defined.some(isLowVoltage)) {
        ledger.unmapped(element, 'a transformer inside a low-voltage network: the site model has no place for it');
        continue;
      }
      conductors.push({ element, buses: defined });
    } else if (element.cls === 'reactor' || element.cls === 'capacitor') {
      const series = defined.length === 2 && defined[0] !== defined[1];
      if (series && element.enabled) conductors.push({ element, buses: defined });
      else ledger.unmapped(element, `${series ? 'disabled series' : 'shunt'} ${element.cls}: no counterpart in the site model`);
    }
  }

  for (const { buses: ends } of conductors) {
    for (const bus of ends) buses.add(bus);
    for (let i = 1; i < ends.length; i++) buses.union(ends[0]!, ends[i]!);
  }
  for (const sw of activeSwitches) for (const bus of sw.ends) if (bus !== '') buses.add(bus);
  buses.add(sourceBus);

  // Components and the switching devices at each.
  const switchesAt = new Map<string, DetectedSwitch[]>();
  for (const sw of activeSwitches) {
    for (const bus of new Set(sw.ends)) {
      if (bus === '') continue;
      const root = buses.find(bus);
      const list = switchesAt.get(root) ?? [];
      if (!list.includes(sw)) list.push(sw);
      switchesAt.set(root, list);
    }
  }

  const order = new Map<string, number>(); // component root -> section index
  const headBus = new Map<string, string>();
  const placed: PlacedSwitch[] = [];
  const placedKeys = new Set<string>();
  const pendingOpen: Array<{ sw: DetectedSwitch; fromRoot: string; fromBus: string }> = [];
  const queue: string[] = [];
  const reach = (root: string, via: string): void => {
    order.set(root, order.size);
    headBus.set(root, via);
    queue.push(root);
  };
  const place = (sw: DetectedSwitch, fromBus: string, toBus: string, kind: SwitchKind): void => {
    placedKeys.add(sw.line.key);
    placed.push({ id: '', detected: sw, kind, normal: sw.normal, from: order.get(buses.find(fromBus))!, to: order.get(buses.find(toBus))!, fromBus });
  };
  const otherEnd = (sw: DetectedSwitch, root: string): { near: string; far: string } =>
    buses.find(sw.ends[0]) === root ? { near: sw.ends[0], far: sw.ends[1] } : { near: sw.ends[1], far: sw.ends[0] };

  reach(buses.find(sourceBus), sourceBus);
  for (let head = 0; ; ) {
    for (; head < queue.length; head++) {
      const root = queue[head]!;
      for (const sw of switchesAt.get(root) ?? []) {
        if (placedKeys.has(sw.line.key) || sw.ends.includes('')) continue;
        const { near, far } = otherEnd(sw, root);
        const farRoot = buses.find(far);
        if (order.has(farRoot)) continue;
        if (sw.normal === 'open') {
          pendingOpen.push({ sw, fromRoot: root, fromBus: near });
          continue;
        }
        reach(farRoot, far);
        place(sw, near, far, sw.kind);
      }
    }
    // Nothing more through closed devices: cross the first open one that still leads somewhere new.
    const next = pendingOpen.find((p) => !placedKeys.has(p.sw.line.key) && !order.has(buses.find(otherEnd(p.sw, p.fromRoot).far)));
    if (next === undefined) break;
    const far = otherEnd(next.sw, next.fromRoot).far;
    reach(buses.find(far), far);
    place(next.sw, next.fromBus, far, next.sw.kind);
  }

  // Devices not on the walk's tree: loops (ties when normally open), devices inside a section, orphans.
  for (const sw of activeSwitches) {
    if (placedKeys.has(sw.line.key)) continue;
    if (sw.ends.includes('')) {
      ledger.unmapped(sw.line, 'a switching device without two buses');
      continue;
    }
    const [a, b] = sw.ends.map((bus) => buses.find(bus)) as [string, string];
    if (!order.has(a) || !order.has(b)) {
      ledger.unmapped(sw.line, 'not connected to the source of the circuit (only through disabled elements)');
      continue;
    }
    if (a === b) {
      ledger.unmapped(sw.line, `both ends (${sw.ends.join(', ')}) are in one section, joined also by non-switching elements: opening it would isolate nothing`);
      continue;
    }
    const [fromBus, toBus] = order.get(a)! <= order.get(b)! ? [sw.ends[0], sw.ends[1]] : [sw.ends[1], sw.ends[0]];
    place(sw, fromBus, toBus, sw.normal === 'open' ? 'tie' : sw.kind);
  }

  // Sections in walk order, with their ids.
  const roots = [...order.keys()];
  const sectionBuses = roots.map(() => [] as string[]);
  const sectionOfBus = new Map<string, number>();
  for (const bus of buses.members()) {
    const index = order.get(buses.find(bus));
    if (index === undefined) continue;
    sectionOfBus.set(bus, index);
    sectionBuses[index]!.push(bus);
  }
  const sections: Section[] = roots.map((root, i) => {
    const head = headBus.get(root)!;
    const rest = sectionBuses[i]!.filter((b) => b !== head).sort(compareBusNames);
    return { id: sectionIds.allocate(`S-${model.busNames.get(head) ?? head}`), headBus: head, buses: [head, ...rest] };
  });
  for (const p of placed) p.id = switchIds.allocate(p.detected.line.name);

  for (const { element, buses: ends } of conductors) {
    const index = ends.length > 0 ? sectionOfBus.get(ends[0]!) : undefined;
    if (index === undefined) ledger.unmapped(element, 'not connected to the source of the circuit (only through disabled elements)');
    else ledger.mapped(element, `part of section ${sections[index]!.id}`);
  }
  for (const p of placed) ledger.mapped(p.detected.line, `switch ${p.id} (${p.kind}, normally ${p.normal})`);
  return { source, sourceBus, sections, sectionOfBus, switches: placed };
}

/** Numeric bus names in numeric order, then the others alphabetically: `2` before `10`. */
export function compareBusNames(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  const aNum = a !== '' && Number.isFinite(na);
  const bNum = b !== '' && Number.isFinite(nb);
  if (aNum && bNum) return na - nb;
  if (aNum !== bNum) return aNum ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
