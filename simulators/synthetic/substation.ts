/**
 * A synthetic substation: N feeders x M transformers per feeder x K customers per transformer, as a site
 * document (the YAML shape of config/site.schema.json), for scale tests and benchmarks of the gateway.
 *
 * Every feeder has the structure of a real 10 kV overhead feeder:
 *
 *   bus =[F07-CB]= F07-S01 =[F07-SEC02]= F07-S02 =[F07-R03]= F07-S03 =[F07-LBS04]= F07-S04 ...
 *                    |  \                 |                    |
 *               F07-T0101 [F07-FU0101]  ...                [F07-FU0301]
 *                             |                                |
 *                          F07-L0101 (T0102, T0103, ...)     F07-L0301 ...
 *
 * - a feeder breaker (`F07-CB`) feeds a trunk of `trunkSections` sections (`F07-S01`..), one per zone;
 *   the devices between trunk sections are a mid-trunk recloser (`F07-R<zone>`), sectionalizers
 *   (`F07-SEC<zone>`) upstream of it and load-break switches (`F07-LBS<zone>`) downstream of it, each named
 *   after the zone it feeds;
 * - each zone's transformers: the first on the trunk section, the others on fused laterals
 *   (`F07-FU0301` feeds lateral section `F07-L0301`: zone 03, lateral 01), `transformersPerLateral` each;
 * - transformers are `F07-T<zone><n>` (`F07-T0412`: zone 04, 12th transformer of the zone), customers
 *   `C<feeder><zone><n><customer>` (`C07041201`), so an id tells where it hangs;
 * - a normally-open tie joins the last trunk sections of neighbouring feeders (`TIE-07-08`, listed
 *   under F07);
 * - area classes are mixed: each feeder has a class (cityCentre, urban, town, rural in turn), laterals of the
 *   zones past the recloser are one class more rural;
 * - every element has a diagram position (`at: [x, y]`): feeder rows 100 units apart, laterals below
 *   their trunk.
 *
 * Devices (optional): a generic-ftu FTU on every telemetered switch (breakers, reclosers, sectionalizers,
 * load-break switches, ties; fuses have none) and chint-dtsu666 meters on an evenly spread share of the
 * customers, all Modbus TCP on 127.0.0.1 with up to 247 unit ids behind each port, as a data
 * concentrator or an RTU gateway serves them: FTUs from `basePort`, meters on the ports after the FTUs'.
 *
 * Deterministic: the same options give the same document, byte for byte once written by `substationYaml`.
 */
import { AREA_CLASSES, type AreaClass, type SwitchKind } from '../../gateway/config/site-config.js';

export interface SubstationOptions {
  feeders: number;
  transformersPerFeeder: number;
  customersPerTransformer: number;
  /** Default `synthetic-<N>x<M>x<K>`. */
  siteId?: string;
  /** Trunk sections (zones) per feeder; default round(sqrt(M)), at most M. */
  trunkSections?: number;
  /** Transformers per fused lateral; default 3. */
  transformersPerLateral?: number;
  /** An FTU (generic-ftu) on every telemetered switch; default true. */
  ftus?: boolean;
  /** Metered customers: a count, or a share of all customers when `meterShare` is given instead. Default 0. */
  meters?: number;
  meterShare?: number;
  /** First Modbus TCP port; default 15020. */
  basePort?: number;
  /** Unit ids per port (1..247); default 247. */
  unitsPerEndpoint?: number;
  /** Default 127.0.0.1. */
  host?: string;
  ftuPollIntervalMs?: number;
  meterPollIntervalMs?: number;
}

/** The keys this generator writes (a subset of the site file; the loader fills in the defaults). */
export interface SyntheticSwitch {
  id: string;
  kind: SwitchKind;
  from?: string;
  to: string;
  normal: 'open' | 'closed';
  at: [number, number];
}
export interface SyntheticSection {
  id: string;
  at: [number, number];
}
export interface SyntheticTransformer {
  id: string;
  section: string;
  areaClass: AreaClass;
  customers: string[];
  at: [number, number];
}
export interface SyntheticFeeder {
  id: string;
  name: string;
  breaker: string;
  switches: SyntheticSwitch[];
  sections: SyntheticSection[];
  transformers: SyntheticTransformer[];
}
export interface SyntheticDevice {
  id: string;
  protocol: 'modbus-tcp';
  host: string;
  port: number;
  unitId: number;
  pollIntervalMs: number;
  template: 'generic-ftu' | 'chint-dtsu666';
  binds: { switch: string } | { customer: string };
}
export interface SyntheticSiteDocument {
  siteId: string;
  name: string;
  feeders: SyntheticFeeder[];
  devices: SyntheticDevice[];
}

const ROW = 100;
const ZONE_MIN_WIDTH = 100;
const LATERAL_SPACING = 20;

function positiveInt(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max) throw new RangeError(`${name} must be an integer 1..${max} (got ${value})`);
  return value;
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');
const widthOf = (max: number): number => Math.max(2, String(max).length);

/** The zone (trunk section) count and the transformers of each zone. */
function zoneSizes(transformers: number, zones: number): number[] {
  return Array.from({ length: zones }, (_, i) => Math.floor(transformers / zones) + (i < transformers % zones ? 1 : 0));
}

/** Splits `count` items into groups of at most `size`, as even as possible (larger groups first). */
function evenGroups(count: number, size: number): number[] {
  if (count === 0) return [];
  const groups = Math.ceil(count / size);
  return zoneSizes(count, groups);
}

export function generateSubstation(opts: SubstationOptions): SyntheticSiteDocument {
  const nFeeders = positiveInt('feeders', opts.feeders, 999);
  const nTransformers = positiveInt('transformersPerFeeder', opts.transformersPerFeeder, 9999);
  const nCustomers = positiveInt('customersPerTransformer', opts.customersPerTransformer, 9999);
  const zones = Math.min(nTransformers, positiveInt('trunkSections', opts.trunkSections ?? Math.max(1, Math.round(Math.sqrt(nTransformers))), 99));
  const perLateral = positiveInt('transformersPerLateral', opts.transformersPerLateral ?? 3, 9999);
  const unitsPerEndpoint = positiveInt('unitsPerEndpoint', opts.unitsPerEndpoint ?? 247, 247);
  const basePort = opts.basePort ?? 15020;
  if (!Number.isInteger(basePort) || basePort < 1 || basePort > 65535) throw new RangeError(`basePort must be a port 1..65535 (got ${basePort})`);
  const host = opts.host ?? '127.0.0.1';

  const sizes = zoneSizes(nTransformers, zones);
  const maxZoneSize = Math.max(...sizes);
  const maxLaterals = Math.max(...sizes.map((m) => evenGroups(m - 1, perLateral).length), 1);
  const fw = widthOf(nFeeders);
  const zw = widthOf(zones);
  const nw = widthOf(maxZoneSize);
  const lw = widthOf(maxLaterals);
  const cw = widthOf(nCustomers);
  const fid = (f: number): string => `F${pad(f, fw)}`;
  const trunk = (f: number, z: number): string => `${fid(f)}-S${pad(z, zw)}`;
  // The recloser sits mid-trunk: zones before it are behind sectionalizers, zones after it behind load-break switches.
  const recloserZone = Math.floor(zones / 2) + 1;
  const trunkDevice = (z: number): { kind: SwitchKind; prefix: string } =>
    z === recloserZone ? { kind: 'recloser', prefix: 'R' } : z < recloserZone ? { kind: 'sectionalizer', prefix: 'SEC' } : { kind: 'loadBreakSwitch', prefix: 'LBS' };

  // Zone widths on the diagram, the same for every feeder so ties line up.
  const zoneX: number[] = [];
  let x = 0;
  for (let z = 1; z <= zones; z++) {
    zoneX.push(x);
    x += Math.max(ZONE_MIN_WIDTH, LATERAL_SPACING * (evenGroups(sizes[z - 1]! - 1, perLateral).length + 2));
  }
  const trunkEndX = x;

  const feeders: SyntheticFeeder[] = [];
  for (let f = 1; f <= nFeeders; f++) {
    const y = -(f - 1) * ROW;
    const feederClass = AREA_CLASSES[(f - 1) % AREA_CLASSES.length]!;
    const outerClass = AREA_CLASSES[Math.min(AREA_CLASSES.indexOf(feederClass) + 1, AREA_CLASSES.length - 1)]!;
    const switches: SyntheticSwitch[] = [{ id: `${fid(f)}-CB`, kind: 'breaker', to: trunk(f, 1), normal: 'closed', at: [0, y] }];
    const sections: SyntheticSection[] = [];
    const transformers: SyntheticTransformer[] = [];
    for (let z = 1; z <= zones; z++) {
      const x0 = zoneX[z - 1]!;
      const x1 = z < zones ? zoneX[z]! : trunkEndX;
      const section = trunk(f, z);
      if (z > 1) {
        const device = trunkDevice(z);
        switches.push({ id: `${fid(f)}-${device.prefix}${pad(z, zw)}`, kind: device.kind, from: trunk(f, z - 1), to: section, normal: 'closed', at: [x0, y] });
      }
      sections.push({ id: section, at: [(x0 + x1) / 2, y] });
      const zoneTag = `${pad(f, fw)}${pad(z, zw)}`;
      const transformer = (n: number, sectionId: string, areaClass: AreaClass, at: [number, number]): SyntheticTransformer => {
        const customers: string[] = [];
        for (let c = 1; c <= nCustomers; c++) customers.push(`C${zoneTag}${pad(n, nw)}${pad(c, cw)}`);
        return { id: `${fid(f)}-T${pad(z, zw)}${pad(n, nw)}`, section: sectionId, areaClass, customers, at };
      };
      transformers.push(transformer(1, section, feederClass, [x0 + LATERAL_SPACING / 2, y + 10]));
      let n = 2;
      evenGroups(sizes[z - 1]! - 1, perLateral).forEach((size, j) => {
        const tag = `${pad(z, zw)}${pad(j + 1, lw)}`;
        const lateral = `${fid(f)}-L${tag}`;
        const lx = x0 + LATERAL_SPACING * (j + 1);
        switches.push({ id: `${fid(f)}-FU${tag}`, kind: 'fuse', from: section, to: lateral, normal: 'closed', at: [lx, y - 10] });
        sections.push({ id: lateral, at: [lx, y - 30] });
        const areaClass = z > recloserZone ? outerClass : feederClass;
        for (let i = 0; i < size; i++) transformers.push(transformer(n++, lateral, areaClass, [lx + 5, y - 20 - Math.round((i * 60) / Math.max(size, 6))]));
      });
    }
    if (f < nFeeders) {
      switches.push({ id: `TIE-${pad(f, fw)}-${pad(f + 1, fw)}`, kind: 'tie', from: trunk(f, zones), to: trunk(f + 1, zones), normal: 'open', at: [trunkEndX, y - ROW / 2] });
    }
    feeders.push({ id: fid(f), name: `Synthetic 10 kV feeder ${f}`, breaker: `${fid(f)}-CB`, switches, sections, transformers });
  }

  const devices: SyntheticDevice[] = [];
  let port = basePort;
  let unit = 0;
  const endpoint = (): { port: number; unitId: number } => {
    if (unit === unitsPerEndpoint) {
      port++;
      unit = 0;
    }
    unit++;
    if (port > 65535) throw new RangeError('too many devices for the ports above basePort');
    return { port, unitId: unit };
  };
  if (opts.ftus !== false) {
    for (const feeder of feeders) {
      for (const sw of feeder.switches) {
        if (sw.kind === 'fuse') continue;
        devices.push({ id: `ftu-${sw.id.toLowerCase()}`, protocol: 'modbus-tcp', host, ...endpoint(), pollIntervalMs: opts.ftuPollIntervalMs ?? 1000, template: 'generic-ftu', binds: { switch: sw.id } });
      }
    }
  }
  const totalCustomers = nFeeders * nTransformers * nCustomers;
  const meters = opts.meterShare !== undefined ? Math.round(opts.meterShare * totalCustomers) : (opts.meters ?? 0);
  if (!Number.isInteger(meters) || meters < 0 || meters > totalCustomers) throw new RangeError(`meters must be 0..${totalCustomers} (got ${meters})`);
  if (meters > 0) {
    // Meters start on a port of their own: the data concentrator is another box than the FTUs' RTU gateway.
    if (unit > 0) {
      port++;
      unit = 0;
    }
    let index = 0;
    for (const feeder of feeders) {
      for (const transformer of feeder.transformers) {
        for (const customer of transformer.customers) {
          // Evenly spread: customer i is metered when floor(i * meters / total) steps up at i.
          if (Math.floor(((index + 1) * meters) / totalCustomers) > Math.floor((index * meters) / totalCustomers)) {
            devices.push({ id: `meter-${customer.toLowerCase()}`, protocol: 'modbus-tcp', host, ...endpoint(), pollIntervalMs: opts.meterPollIntervalMs ?? 15_000, template: 'chint-dtsu666', binds: { customer } });
          }
          index++;
        }
      }
    }
  }
  return {
    siteId: opts.siteId ?? `synthetic-${nFeeders}x${nTransformers}x${nCustomers}`,
    name: `Synthetic substation: ${nFeeders} feeders x ${nTransformers} transformers x ${nCustomers} customers`,
    feeders,
    devices,
  };
}

// --- YAML ---------------------------------------------------------------------------------------------

const PLAIN = /^[A-Za-z][A-Za-z0-9_.-]*$/;
/** Plain scalars a YAML 1.1 reader (or a human) could take for something else than a string. */
const AMBIGUOUS = /^(true|false|null|yes|no|on|off|y|n)$/i;

function scalar(value: string | number | boolean): string {
  if (typeof value === 'string') return PLAIN.test(value) && !AMBIGUOUS.test(value) ? value : JSON.stringify(value);
  return String(value);
}

/** One value in YAML flow style (JSON-like, without quotes where a plain scalar is unambiguous). */
function flow(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(flow).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    return `{ ${entries.map(([k, v]) => `${k}: ${flow(v)}`).join(', ')} }`;
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return scalar(value);
  throw new TypeError(`cannot write ${String(value)} as YAML`);
}

/**
 * The document as a site file: block style down to the lists, one flow mapping per switch, section,
 * transformer and device (a 100,000-customer site stays a few megabytes and loads in seconds).
 */
export function substationYaml(doc: SyntheticSiteDocument, header: readonly string[] = []): string {
  const lines: string[] = header.map((h) => `# ${h}`.trimEnd());
  lines.push(`siteId: ${scalar(doc.siteId)}`, `name: ${scalar(doc.name)}`, '', 'feeders:');
  for (const feeder of doc.feeders) {
    lines.push(`  - id: ${scalar(feeder.id)}`, `    name: ${scalar(feeder.name)}`, `    breaker: ${scalar(feeder.breaker)}`, '    switches:');
    for (const sw of feeder.switches) lines.push(`      - ${flow(sw)}`);
    lines.push('    sections:');
    for (const section of feeder.sections) lines.push(`      - ${flow(section)}`);
    lines.push('    transformers:');
    for (const transformer of feeder.transformers) lines.push(`      - ${flow(transformer)}`);
  }
  lines.push('', doc.devices.length === 0 ? 'devices: []' : 'devices:');
  for (const device of doc.devices) lines.push(`  - ${flow(device)}`);
  return lines.join('\n') + '\n';
}
