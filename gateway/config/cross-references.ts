import type { ConfigIssue } from './site-config-error.js';
import type { FeederConfig, PointConfig, SwitchConfig } from './site-config.js';
import type { SiteDocument } from './schema-validation.js';

/** Where an id was first defined, for "already used at ..." messages and same-feeder checks. */
interface Definition {
  path: string;
  feederIndex: number;
}

interface SwitchDefinition extends Definition {
  kind: SwitchConfig['kind'];
}

/**
 * The checks JSON Schema cannot express: unique ids, references between feeders, switches, sections,
 * transformers, customers and devices, and that every section hangs off its feeder breaker. Runs on a
 * schema-valid document and returns every issue, not just the first.
 */
export function checkCrossReferences(site: SiteDocument): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const feeders = indexFeeders(site.feeders, issues);
  site.feeders.forEach((feeder, feederIndex) => checkFeeder(feeder, feederIndex, feeders, issues));
  checkDevices(site, feeders, issues);
  return issues;
}

interface FeederIndex {
  sections: Map<string, Definition>;
  switches: Map<string, SwitchDefinition>;
  customers: Map<string, Definition & { transformer: string }>;
  feederIds: string[];
}

function indexFeeders(feeders: readonly FeederConfig[], issues: ConfigIssue[]): FeederIndex {
  const index: FeederIndex = { sections: new Map(), switches: new Map(), customers: new Map(), feederIds: [] };
  const feederPaths = new Map<string, string>();
  const transformers = new Map<string, string>();

  function claim<T extends Definition>(map: Map<string, T>, what: string, id: string, definition: T): void {
    const first = map.get(id);
    if (first === undefined) map.set(id, definition);
    else issues.push({ path: definition.path, message: `duplicate ${what} id, already used at ${first.path}`, value: id });
  }

  feeders.forEach((feeder, feederIndex) => {
    const base = `feeders[${feederIndex}]`;
    index.feederIds.push(feeder.id);
    const firstFeeder = feederPaths.get(feeder.id);
    if (firstFeeder === undefined) feederPaths.set(feeder.id, `${base}.id`);
    else issues.push({ path: `${base}.id`, message: `duplicate feeder id, already used at ${firstFeeder}`, value: feeder.id });

    feeder.sections.forEach((section, i) => {
      claim(index.sections, 'section', section.id, { path: `${base}.sections[${i}].id`, feederIndex });
    });
    feeder.switches.forEach((sw, i) => {
      claim(index.switches, 'switch', sw.id, { path: `${base}.switches[${i}].id`, feederIndex, kind: sw.kind });
    });
    feeder.transformers.forEach((transformer, i) => {
      const path = `${base}.transformers[${i}]`;
      const firstTransformer = transformers.get(transformer.id);
      if (firstTransformer === undefined) transformers.set(transformer.id, `${path}.id`);
      else issues.push({ path: `${path}.id`, message: `duplicate transformer id, already used at ${firstTransformer}`, value: transformer.id });

      transformer.customers.forEach((customer, k) => {
        const customerPath = `${path}.customers[${k}]`;
        const first = index.customers.get(customer);
        if (first === undefined) {
          index.customers.set(customer, { path: customerPath, feederIndex, transformer: transformer.id });
        } else {
          issues.push({
            path: customerPath,
            message: `customer is already supplied by transformer ${first.transformer} (${first.path})`,
            value: customer,
          });
        }
      });
    });
  });
  return index;
}

function checkFeeder(feeder: FeederConfig, feederIndex: number, index: FeederIndex, issues: ConfigIssue[]): void {
  const base = `feeders[${feederIndex}]`;
  const feederOf = (definition: Definition): string => index.feederIds[definition.feederIndex] ?? '?';

  const breakerIssue = checkBreaker(feeder, feederIndex, index);
  if (breakerIssue !== undefined) issues.push({ path: `${base}.breaker`, message: breakerIssue, value: feeder.breaker });

  /** Reports a reference to a section; returns whether it names a section of this feeder. */
  function checkSectionRef(path: string, sectionId: string, otherFeederAllowed: boolean, otherFeederMessage: string): boolean {
    const section = index.sections.get(sectionId);
    if (section === undefined) {
      issues.push({ path, message: `section "${sectionId}" does not exist`, value: sectionId });
      return false;
    }
    if (section.feederIndex === feederIndex) return true;
    if (!otherFeederAllowed) {
      issues.push({ path, message: `section "${sectionId}" belongs to feeder ${feederOf(section)}; ${otherFeederMessage}`, value: sectionId });
    }
    return false;
  }

  let switchReferencesOk = true;
  feeder.switches.forEach((sw, i) => {
    const path = `${base}.switches[${i}]`;
    if (sw.from === undefined) {
      if (sw.kind !== 'breaker') {
        issues.push({ path: `${path}.from`, message: `is required for a ${sw.kind}: only the feeder breaker has no source-side section` });
        switchReferencesOk = false;
      } else if (breakerIssue === undefined && sw.id !== feeder.breaker) {
        issues.push({ path: `${path}.from`, message: `is required: only the feeder breaker (${feeder.breaker}) has no source-side section` });
        switchReferencesOk = false;
      }
    } else if (!checkSectionRef(`${path}.from`, sw.from, false, `from must be a section of this feeder (${feeder.id})`)) {
      switchReferencesOk = false;
    }
    const toOk = checkSectionRef(`${path}.to`, sw.to, sw.kind === 'tie', `only a tie may lead to another feeder`);
    if (!toOk && !(sw.kind === 'tie' && index.sections.has(sw.to))) switchReferencesOk = false;
    if (sw.from !== undefined && sw.from === sw.to) {
      issues.push({ path: `${path}.to`, message: 'must not be the same section as from', value: sw.to });
      switchReferencesOk = false;
    }
  });

  feeder.transformers.forEach((transformer, i) => {
    checkSectionRef(`${base}.transformers[${i}].section`, transformer.section, false, `a transformer must be on a section of its own feeder (${feeder.id})`);
  });

  // Connectivity only means something once the breaker and every switch reference are sound;
  // otherwise each broken reference would also show up as "not connected" sections.
  if (breakerIssue === undefined && switchReferencesOk) {
    const reached = sectionsReachedFromBreaker(feeder);
    feeder.sections.forEach((section, i) => {
      if (!reached.has(section.id) && index.sections.get(section.id)?.feederIndex === feederIndex) {
        issues.push({ path: `${base}.sections[${i}]`, message: 'section is not connected to the feeder breaker', value: section.id });
      }
    });
  }
}

/** Returns what is wrong with `feeder.breaker`, if anything. */
function checkBreaker(feeder: FeederConfig, feederIndex: number, index: FeederIndex): string | undefined {
  const breaker = index.switches.get(feeder.breaker);
  if (breaker === undefined) return `switch "${feeder.breaker}" does not exist`;
  if (breaker.feederIndex !== feederIndex) {
    return `switch "${feeder.breaker}" belongs to feeder ${index.feederIds[breaker.feederIndex] ?? '?'}, not ${feeder.id}`;
  }
  if (breaker.kind !== 'breaker') return `switch "${feeder.breaker}" is a ${breaker.kind}; the feeder breaker must be of kind breaker`;
  const own = feeder.switches.find((sw) => sw.id === feeder.breaker);
  if (own?.from !== undefined) return `switch "${feeder.breaker}" has a from section; the feeder breaker is fed by the substation bus and has none`;
  return undefined;
}

/** Sections reachable from the breaker following switches from source to load side, ties excluded. */
function sectionsReachedFromBreaker(feeder: FeederConfig): Set<string> {
  const loadSides = new Map<string, string[]>();
  let start: string | undefined;
  for (const sw of feeder.switches) {
    if (sw.id === feeder.breaker) start = sw.to;
    if (sw.kind === 'tie' || sw.from === undefined) continue;
    const list = loadSides.get(sw.from) ?? [];
    list.push(sw.to);
    loadSides.set(sw.from, list);
  }
  const reached = new Set<string>();
  const pending = start === undefined ? [] : [start];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (reached.has(next)) continue;
    reached.add(next);
    pending.push(...(loadSides.get(next) ?? []));
  }
  return reached;
}

function checkDevices(site: SiteDocument, index: FeederIndex, issues: ConfigIssue[]): void {
  const devicePaths = new Map<string, string>();
  const boundCustomers = new Map<string, string>();
  const endpoints = new Map<string, string>();
  // Point lists are usually shared through YAML aliases: check each list once, where it is defined.
  const checkedPointLists = new Set<readonly PointConfig[]>();
  for (const [name, points] of Object.entries(site.pointSets ?? {})) {
    checkPointNames(points, `pointSets.${name}`, checkedPointLists, issues);
  }

  site.devices.forEach((device, d) => {
    const base = `devices[${d}]`;
    const firstDevice = devicePaths.get(device.id);
    if (firstDevice === undefined) devicePaths.set(device.id, `${base}.id`);
    else issues.push({ path: `${base}.id`, message: `duplicate device id, already used at ${firstDevice}`, value: device.id });

    const { switch: switchId, customer } = device.binds;
    if (switchId !== undefined && !index.switches.has(switchId)) {
      issues.push({ path: `${base}.binds.switch`, message: `switch "${switchId}" does not exist`, value: switchId });
    }
    if (customer !== undefined) {
      const boundBy = boundCustomers.get(customer);
      if (!index.customers.has(customer)) {
        issues.push({ path: `${base}.binds.customer`, message: `customer "${customer}" does not exist`, value: customer });
      } else if (boundBy !== undefined) {
        issues.push({ path: `${base}.binds.customer`, message: `customer "${customer}" is already bound to device ${boundBy}`, value: customer });
      } else {
        boundCustomers.set(customer, `${device.id} (${base})`);
      }
    }

    checkPointNames(device.points, `${base}.points`, checkedPointLists, issues);
    device.points.forEach((point, p) => {
      const binding = switchId !== undefined ? `switch "${switchId}"` : `customer "${customer ?? ''}"`;
      if ((point.observe === 'switch.position' || point.observe === 'switch.faultFlag') && switchId === undefined) {
        issues.push({ path: `${base}.points[${p}].observe`, message: `${point.observe} needs a device bound to a switch (this one is bound to ${binding})`, value: point.observe });
      }
      if (point.observe === 'meter.voltage' && customer === undefined) {
        issues.push({ path: `${base}.points[${p}].observe`, message: `meter.voltage needs a device bound to a customer (this one is bound to ${binding})`, value: point.observe });
      }
    });

    // Two devices on one endpoint and unit id would read each other's registers.
    const endpoint = `${device.host.toLowerCase()}:${device.port}/${device.unitId}`;
    const sharing = endpoints.get(endpoint);
    if (sharing === undefined) endpoints.set(endpoint, `${device.id} (${base})`);
    else issues.push({ path: `${base}.unitId`, message: `host ${device.host} port ${device.port} unit ${device.unitId} is already used by device ${sharing}`, value: device.unitId });
  });
}

function checkPointNames(points: readonly PointConfig[], base: string, checked: Set<readonly PointConfig[]>, issues: ConfigIssue[]): void {
  if (checked.has(points)) return;
  checked.add(points);
  const first = new Map<string, string>();
  points.forEach((point, p) => {
    const path = `${base}[${p}].name`;
    const firstPath = first.get(point.name);
    if (firstPath === undefined) first.set(point.name, path);
    else issues.push({ path, message: `duplicate point name, already used at ${firstPath}`, value: point.name });
  });
}
