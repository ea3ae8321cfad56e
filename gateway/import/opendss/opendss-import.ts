/**
 * OpenDSS circuit -> site topology: reads the script (dss-reader.ts), builds the circuit (circuit-model.ts),
 * finds the switching devices (switching-devices.ts), the service transformers (service-transformers.ts),
 * the sections (section-builder.ts) and the customers (customer-mapping.ts), adds the feeder breaker and the
 * simulated FTUs, and returns the site file text with a report of everything it could not map.
 * docs/opendss-import.md describes the mapping.
 */
import { basename } from 'node:path';
import type { AreaClass, Point2d } from '../../config/site-config.js';
import { buildCircuitModel, readCoordinateFile, type CircuitModel } from './circuit-model.js';
import { mapCustomers } from './customer-mapping.js';
import { readDssScript } from './dss-reader.js';
import { ElementLedger } from './element-ledger.js';
import type { ImportReport, ReportedSwitch } from './import-report.js';
import { buildSections, type SectionLayout } from './section-builder.js';
import { findLowVoltageSide } from './service-transformers.js';
import { planFtus } from './simulated-devices.js';
import { IdAllocator } from './site-ids.js';
import { writeSiteYaml, type ImportedSite, type ImportedSwitch } from './site-writer.js';
import { detectSwitchingDevices } from './switching-devices.js';

export interface OpenDssImportOptions {
  /** Default: the circuit's name, made a valid site id. */
  siteId?: string;
  /** Default: the site id. */
  feederId?: string;
  /** Lines whose name matches are switching devices too. */
  switchPattern?: RegExp;
  /** Generate this many customers per transformer instead of one per load. */
  customersPerTransformer?: number;
  areaClass: AreaClass;
  /** `ftu`: a simulated generic FTU per telemetered switching device; `none`: no devices. */
  devices: 'ftu' | 'none';
  /** First Modbus TCP port of the simulated FTUs. */
  basePort: number;
  /** A bus coordinate file to read after the script (for scripts that leave `BusCoords` to a run script). */
  busCoordsFile?: string;
}

export interface OpenDssImportResult {
  yaml: string;
  site: ImportedSite;
  report: ImportReport;
  layout: SectionLayout;
  model: CircuitModel;
}

/** Why an element of a class the topology does not use is left out. */
function reasonForClass(cls: string, className: string): string {
  if (['linecode', 'linegeometry', 'wiredata', 'cndata', 'tsdata', 'linespacing', 'xfmrcode'].includes(cls)) return `${className} is impedance data: the site model has no impedances`;
  if (['loadshape', 'growthshape', 'tshape', 'priceshape', 'xycurve', 'tcc_curve', 'spectrum'].includes(cls)) return `${className} is a curve or time series for the solution`;
  if (['regcontrol', 'capcontrol', 'invcontrol', 'expcontrol', 'storagecontroller', 'gencontrol', 'upfccontrol'].includes(cls)) return 'a voltage or var controller: no counterpart in the site model';
  if (['energymeter', 'monitor', 'sensor'].includes(cls)) return 'a measurement of the OpenDSS solution: no counterpart in the site model';
  return `${className} elements have no counterpart in the site model`;
}

export function importOpenDss(masterPath: string, options: OpenDssImportOptions): OpenDssImportResult {
  const script = readDssScript(masterPath);
  const model = buildCircuitModel(script.statements);
  if (options.busCoordsFile !== undefined) readCoordinateFile(options.busCoordsFile, model.coords);
  const ledger = new ElementLedger();
  const detected = detectSwitchingDevices(model, ledger, { switchPattern: options.switchPattern });
  const lowVoltage = findLowVoltageSide(model);

  const siteId = options.siteId ?? (model.circuitName ?? basename(masterPath).replace(/\.[^.]*$/, '')).replace(/[^A-Za-z0-9_-]/g, '-');
  const feederId = options.feederId ?? siteId;
  const breakerId = `${feederId}-CB`;
  const ids = { sections: new IdAllocator(), switches: new IdAllocator(), transformers: new IdAllocator(), customers: new IdAllocator() };
  ids.switches.reserve(breakerId);
  const layout = buildSections(model, detected, lowVoltage, ledger, ids.sections, ids.switches);
  const mapping = mapCustomers(model, layout, lowVoltage, ledger, { transformers: ids.transformers, customers: ids.customers }, options.customersPerTransformer);
  for (const element of model.elements) if (!ledger.has(element)) ledger.unmapped(element, reasonForClass(element.cls, element.className));
  ledger.closeOver(model);

  const busName = (bus: string): string => model.busNames.get(bus) ?? bus;
  const coordsOf = (bus: string): Point2d | undefined => model.coords.get(bus);
  const centroid = (buses: string[]): Point2d | undefined => {
    const points = buses.map(coordsOf).filter((p): p is Point2d => p !== undefined);
    if (points.length === 0) return undefined;
    return [points.reduce((s, p) => s + p[0], 0) / points.length, points.reduce((s, p) => s + p[1], 0) / points.length];
  };
  const sectionId = (index: number): string => layout.sections[index]!.id;

  const switches: ImportedSwitch[] = [
    { id: breakerId, name: `feeder breaker, synthesized at the source bus ${busName(layout.sourceBus)}`, kind: 'breaker', to: sectionId(0), normal: 'closed', at: coordsOf(layout.sourceBus) },
    ...layout.switches.map((p) => ({
      id: p.id,
      name: `${p.detected.line.className}.${p.detected.line.name}`,
      kind: p.kind,
      from: sectionId(p.from),
      to: sectionId(p.to),
      normal: p.normal,
      at: coordsOf(p.fromBus) ?? coordsOf(p.detected.ends.find((b) => b !== p.fromBus) ?? ''),
    })),
  ];
  const sections = layout.sections.map((s) => ({
    id: s.id,
    name: s.buses.length === 1 ? `bus ${busName(s.headBus)}` : `bus ${busName(s.headBus)} and ${s.buses.length - 1} more`,
    at: centroid(s.buses),
  }));
  const transformers = mapping.transformers.map((t) => ({
    id: t.id,
    name: t.element !== undefined ? `${t.element.className}.${t.element.name}` : `loads on bus ${busName(t.bus)}`,
    section: sectionId(t.section),
    areaClass: options.areaClass,
    customers: t.customers,
    at: coordsOf(t.bus),
  }));
  const ftus = options.devices === 'ftu' ? planFtus(switches, options.basePort) : [];
  const customerCount = transformers.reduce((n, t) => n + t.customers.length, 0);
  const loadCount = mapping.transformers.reduce((n, t) => n + t.loads.length, 0);

  const synthesized = [
    `feeder breaker ${breakerId} at the source bus ${busName(layout.sourceBus)}: OpenDSS models no feeder breaker at the source`,
    ...mapping.synthesizedForBuses.map((bus) => {
      const t = mapping.transformers.find((m) => m.element === undefined && m.bus === bus)!;
      return `transformer ${t.id} for ${t.loads.length} load${t.loads.length === 1 ? '' : 's'} on bus ${busName(bus)} without a service transformer (${t.loads.map((l) => l.name).join(', ')})`;
    }),
  ];
  if (options.customersPerTransformer !== undefined) synthesized.push(`${options.customersPerTransformer} generated customers per transformer (--customers-per-transformer), instead of one per load`);

  const reportedSwitches: ReportedSwitch[] = [
    { id: breakerId, kind: 'breaker', normal: 'closed', to: sectionId(0), detectedBy: ['synthesized'], openBecause: [] },
    ...layout.switches.map((p) => ({
      id: p.id,
      element: `${p.detected.line.className}.${p.detected.line.name}`,
      kind: p.kind,
      normal: p.normal,
      from: sectionId(p.from),
      to: sectionId(p.to),
      detectedBy: p.detected.detectedBy,
      openBecause: p.detected.openBecause,
    })),
  ];
  const entries = ledger.all();
  const unmapped = ledger.unmappedEntries().map((e) => ({ element: e.element, file: e.file, line: e.line, reason: e.detail }));
  const report: ImportReport = {
    master: masterPath,
    files: script.files,
    circuit: model.circuitName,
    siteId,
    feederId,
    counts: {
      elements: entries.length,
      mapped: entries.length - unmapped.length,
      unmapped: unmapped.length,
      switches: switches.length,
      normallyOpen: switches.filter((s) => s.normal === 'open').length,
      ties: switches.filter((s) => s.kind === 'tie').length,
      sections: sections.length,
      transformers: transformers.length,
      synthesizedTransformers: mapping.synthesizedForBuses.length,
      customers: customerCount,
      loads: loadCount,
      devices: ftus.length,
    },
    synthesized,
    switches: reportedSwitches,
    sections: layout.sections.map((s) => ({ id: s.id, buses: s.buses.map(busName) })),
    unmapped,
    renamed: [
      ...ids.sections.renamed.map((r) => ({ kind: 'section', ...r })),
      ...ids.switches.renamed.map((r) => ({ kind: 'switch', ...r })),
      ...ids.transformers.renamed.map((r) => ({ kind: 'transformer', ...r })),
      ...ids.customers.renamed.map((r) => ({ kind: 'customer', ...r })),
    ],
    notUnderstoodCommands: model.notUnderstood,
    notes: model.notes,
  };

  const site: ImportedSite = {
    siteId,
    name: `${model.circuitName ?? siteId} (imported from OpenDSS)`,
    feeder: { id: feederId, name: model.circuitName ?? feederId, breaker: breakerId, switches, sections, transformers },
    ftus,
    header: [
      `Imported by \`feederwatch import-opendss\` from ${basename(masterPath)} (OpenDSS circuit ${model.circuitName ?? '?'}).`,
      `${switches.length} switching devices (${report.counts.normallyOpen} normally open), ${sections.length} sections, ${transformers.length} transformers, ${customerCount} customers, ${ftus.length} simulated FTUs.`,
      'Sections are named after the bus they start at; see docs/opendss-import.md for the mapping.',
      '',
    ],
  };
  return { yaml: writeSiteYaml(site), site, report, layout, model };
}
