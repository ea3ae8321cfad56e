import type { ResolvedDevices } from './resolve-devices.js';
import type { ConfigIssue } from './site-config-error.js';
import type { BusConfig, DeviceBinding, FeederConfig, ObserveKind, PointBase, SwitchConfig } from './site-config.js';
import type { SiteDocument } from './site-document.js';

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
 * transformers, customers, devices and buses, what each observed point needs its device bound to, and
 * that every section hangs off its feeder breaker. Runs on a schema-valid document, with its devices
 * resolved (templates merged), and returns every issue, not just the first.
 */
export function checkCrossReferences(site: SiteDocument, resolved: ResolvedDevices): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const feeders = indexFeeders(site.feeders, issues);
  site.feeders.forEach((feeder, feederIndex) => checkFeeder(feeder, feederIndex, feeders, issues));
  checkDevices(site, resolved, feeders, issues);
  checkSimulatorAutomation(site, feeders, issues);
  return issues;
}

/** `simulator.automation`: feeders that exist (once each), protection settings on breakers and reclosers only. */
function checkSimulatorAutomation(site: SiteDocument, index: FeederIndex, issues: ConfigIssue[]): void {
  const automation = site.simulator?.automation;
  if (automation === undefined) return;
  const seen = new Set<string>();
  automation.feeders.forEach((entry, i) => {
    const path = `simulator.automation.feeders[${i}].feeder`;
    if (!index.feederIds.includes(entry.feeder)) issues.push({ path, message: `feeder "${entry.feeder}" does not exist`, value: entry.feeder });
    else if (seen.has(entry.feeder)) issues.push({ path, message: `feeder "${entry.feeder}" is listed twice`, value: entry.feeder });
    seen.add(entry.feeder);
  });
  automation.protection.forEach((entry, i) => {
    const path = `simulator.automation.protection[${i}].device`;
    const sw = index.switches.get(entry.device);
    if (sw === undefined) issues.push({ path, message: `switch "${entry.device}" does not exist`, value: entry.device });
    else if (sw.kind !== 'breaker' && sw.kind !== 'recloser') {
      issues.push({ path, message: `switch "${entry.device}" is a ${sw.kind}; only breakers and reclosers reclose`, value: entry.device });
    }
  });
}

interface FeederIndex {
  sections: Map<string, Definition>;
  switches: Map<string, SwitchDefinition>;
  customers: Map<string, Definition & { transformer: string }>;
  transformers: Map<string, string>;
  feederIds: string[];
}

function indexFeeders(feeders: readonly FeederConfig[], issues: ConfigIssue[]): FeederIndex {
  const index: FeederIndex = { sections: new Map(), switches: new Map(), customers: new Map(), transformers: new Map(), feederIds: [] };
  const feederPaths = new Map<string, string>();
  const transformers = index.transformers;

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

function checkDevices(site: SiteDocument, resolved: ResolvedDevices, index: FeederIndex, issues: ConfigIssue[]): void {
  const devicePaths = new Map<string, string>();
  const boundCustomers = new Map<string, string>();
  const tcpEndpoints = new Map<string, string>();
  const rtuUnits = new Map<string, string>();
  const opcuaEndpoints = new Map<string, { device: string; security: string }>();
  const buses = checkBuses(site.buses, issues);
  // Point lists are usually shared through YAML aliases: check each list once, where it is defined.
  const checkedPointLists = new Set<readonly PointBase[]>();
  for (const [name, points] of Object.entries(site.pointSets ?? {})) {
    checkPointNames(points, `pointSets.${name}`, checkedPointLists, issues);
  }
  let firstOpcUaDevice: string | undefined;

  site.devices.forEach((written, d) => {
    const device = resolved.devices[d] ?? written;
    const base = `devices[${d}]`;
    const firstDevice = devicePaths.get(device.id);
    if (firstDevice === undefined) devicePaths.set(device.id, `${base}.id`);
    else issues.push({ path: `${base}.id`, message: `duplicate device id, already used at ${firstDevice}`, value: device.id });

    const { switch: switchId, customer, transformer } = device.binds;
    if (switchId !== undefined && !index.switches.has(switchId)) {
      issues.push({ path: `${base}.binds.switch`, message: `switch "${switchId}" does not exist`, value: switchId });
    }
    if (transformer !== undefined && !index.transformers.has(transformer)) {
      issues.push({ path: `${base}.binds.transformer`, message: `transformer "${transformer}" does not exist`, value: transformer });
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

    if (written.points !== undefined) checkPointNames(written.points, `${base}.points`, checkedPointLists, issues);
    const binding = describeBinding(device.binds);
    device.points.forEach((point: PointBase, p) => {
      const observe = point.observe;
      if (observe === undefined) return;
      const needed = BINDING_OF[observe];
      if (device.binds[needed] !== undefined) return;
      const origin = resolved.origin(d, p, point.name);
      issues.push({
        path: origin.observePath,
        message: `${origin.label}${observe} needs a device bound to a ${needed} (this one is bound to ${binding})`,
        value: observe,
      });
    });

    switch (device.protocol) {
      case 'modbus-tcp': {
        // Two devices on one endpoint and unit id would read each other's registers.
        const endpoint = `${device.host.toLowerCase()}:${device.port}`;
        const sharing = tcpEndpoints.get(`${endpoint}/${device.unitId}`);
        if (sharing === undefined) tcpEndpoints.set(`${endpoint}/${device.unitId}`, `${device.id} (${base})`);
        else issues.push({ path: `${base}.unitId`, message: `host ${device.host} port ${device.port} unit ${device.unitId} is already used by device ${sharing}`, value: device.unitId });
        // A device server port speaks either Modbus TCP (MBAP) or RTU frames, never both.
        const bus = buses.tcpEndpoints.get(endpoint);
        if (bus !== undefined) {
          issues.push({ path: `${base}.port`, message: `host ${device.host} port ${device.port} is the rtu-over-tcp bus ${bus}; a port speaks either Modbus TCP or RTU over TCP`, value: device.port });
        }
        break;
      }
      case 'modbus-rtu': {
        if (!buses.ids.has(device.bus)) {
          issues.push({ path: `${base}.bus`, message: `bus "${device.bus}" does not exist`, value: device.bus });
          break;
        }
        // One unit id answers per line: two devices with one id would collide on the wire.
        const key = `${device.bus}/${device.unitId}`;
        const sharing = rtuUnits.get(key);
        if (sharing === undefined) rtuUnits.set(key, `${device.id} (${base})`);
        else issues.push({ path: `${base}.unitId`, message: `bus ${device.bus} unit ${device.unitId} is already used by device ${sharing}`, value: device.unitId });
        break;
      }
      case 'opcua': {
        firstOpcUaDevice ??= `${device.id} (${base})`;
        // Devices on one endpoint share one session, so they must ask for the same one.
        const security = JSON.stringify([device.securityMode, device.securityPolicy, device.username ?? null, device.password ?? null]);
        const first = opcuaEndpoints.get(device.endpointUrl);
        if (first === undefined) opcuaEndpoints.set(device.endpointUrl, { device: `${device.id} (${base})`, security });
        else if (first.security !== security) {
          issues.push({
            path: `${base}.endpointUrl`,
            message: `device ${first.device} uses this endpoint with other securityMode, securityPolicy or credentials; devices on one endpoint share one session and must agree`,
            value: device.endpointUrl,
          });
        }
        break;
      }
    }
  });

  if (firstOpcUaDevice !== undefined && site.opcua === undefined) {
    issues.push({ path: 'opcua', message: `is required: device ${firstOpcUaDevice} uses protocol opcua (opcua: {} takes every default, pkiDir ./pki)` });
  }
}

/** Which binding each observed quantity needs. */
const BINDING_OF: Record<ObserveKind, keyof DeviceBinding> = {
  'switch.position': 'switch',
  'switch.faultFlag': 'switch',
  'switch.lockout': 'switch',
  'switch.voltagePresent': 'switch',
  'meter.voltage': 'customer',
  'transformer.voltage': 'transformer',
};

function describeBinding(binds: DeviceBinding): string {
  if (binds.switch !== undefined) return `switch "${binds.switch}"`;
  if (binds.customer !== undefined) return `customer "${binds.customer}"`;
  return `transformer "${binds.transformer ?? ''}"`;
}

interface BusIndex {
  ids: Set<string>;
  /** host:port of each rtu-over-tcp bus, to the bus id. */
  tcpEndpoints: Map<string, string>;
}

function checkBuses(buses: readonly BusConfig[], issues: ConfigIssue[]): BusIndex {
  const index: BusIndex = { ids: new Set(), tcpEndpoints: new Map() };
  const idPaths = new Map<string, string>();
  const lines = new Map<string, string>();
  buses.forEach((bus, b) => {
    const base = `buses[${b}]`;
    const first = idPaths.get(bus.id);
    if (first === undefined) idPaths.set(bus.id, `${base}.id`);
    else issues.push({ path: `${base}.id`, message: `duplicate bus id, already used at ${first}`, value: bus.id });
    index.ids.add(bus.id);
    // Two buses on one port would run two schedulers on one line: the one-request-in-flight rule breaks.
    const line = bus.type === 'serial' ? `serial port ${bus.path}` : `host ${bus.host} port ${bus.port}`;
    const key = bus.type === 'serial' ? bus.path : `${bus.host.toLowerCase()}:${bus.port}`;
    const owner = lines.get(key);
    if (owner === undefined) lines.set(key, `${bus.id} (${base})`);
    else issues.push({ path: `${base}.${bus.type === 'serial' ? 'path' : 'port'}`, message: `${line} is already used by bus ${owner}`, value: bus.type === 'serial' ? bus.path : bus.port });
    if (bus.type === 'rtu-over-tcp') index.tcpEndpoints.set(key, bus.id);
  });
  return index;
}

function checkPointNames(points: readonly PointBase[], base: string, checked: Set<readonly PointBase[]>, issues: ConfigIssue[]): void {
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
