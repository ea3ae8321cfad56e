/**
 * Geometry of the one-line diagram of one feeder, for the status page. Pure: from the site configuration only.
 *
 * - When every section and every switching device of the feeder has a position (`at: [x, y]`, site drawing
 *   units, y upwards), those positions are used, scaled into the drawing: a section is drawn as lines from
 *   its feeding device to its own position and from there to each device it feeds; a transformer hangs at
 *   its own position, or next to its section's.
 * - Otherwise an automatic tree layout from the breaker: depth along x, one row per branch along y, the
 *   first child continuing its parent's row.
 *
 * A device whose load-side section is already drawn (a tie, a normally open device closing a loop, a tie
 * listed by the other feeder) is drawn as a stub on its side of this feeder, labelled with where it leads.
 */
import type { FeederConfig, SiteConfig, SwitchConfig } from '../config/site-config.js';

export interface SectionShape {
  id: string;
  name?: string;
  /** SVG path data: the section's lines (all one electrical node). */
  d: string;
  /** Where its label goes. */
  label: [number, number];
}

export interface SwitchShape {
  id: string;
  kind: SwitchConfig['kind'];
  x: number;
  y: number;
  normal: SwitchConfig['normal'];
  /** Drawn as a stub: a tie, or a device into a section drawn elsewhere. */
  stub: boolean;
  tie: boolean;
  /** For a stub: the section on the far side (another feeder's, for a tie). */
  leadsTo?: string;
  /** The section on this feeder's side (its colour on a stub), null for the breaker. */
  side: string | null;
}

export interface TransformerShape {
  id: string;
  section: string;
  x: number;
  y: number;
  customers: number;
}

export interface FeederDiagram {
  feederId: string;
  name?: string;
  width: number;
  height: number;
  /** The substation bus the breaker hangs on. */
  bus: { x: number; y1: number; y2: number };
  sections: SectionShape[];
  switches: SwitchShape[];
  transformers: TransformerShape[];
  /** `positions`: from the site's `at:` values; `tree`: automatic. */
  layout: 'positions' | 'tree';
}

const COLUMN = 150;
const ROW = 80;
const MARGIN = 40;

/** The devices drawn in a feeder's diagram: its own, plus ties listed by other feeders that end on it. */
function devicesOf(site: Pick<SiteConfig, 'feeders'>, feeder: FeederConfig): Array<{ sw: SwitchConfig; reversed: boolean }> {
  const own = feeder.switches.map((sw) => ({ sw, reversed: false }));
  const mine = new Set(feeder.sections.map((s) => s.id));
  const foreign = site.feeders
    .filter((f) => f.id !== feeder.id)
    .flatMap((f) => f.switches.filter((sw) => sw.kind === 'tie' && mine.has(sw.to)).map((sw) => ({ sw, reversed: true })));
  return [...own, ...foreign];
}

export function feederDiagram(site: Pick<SiteConfig, 'feeders'>, feeder: FeederConfig): FeederDiagram {
  const devices = devicesOf(site, feeder);
  const positioned = feeder.sections.every((s) => s.at !== undefined) && devices.every(({ sw }) => sw.at !== undefined);
  return positioned ? positionedDiagram(feeder, devices) : treeDiagram(feeder, devices);
}

export function siteDiagrams(site: Pick<SiteConfig, 'feeders'>): FeederDiagram[] {
  return site.feeders.map((f) => feederDiagram(site, f));
}

const r = (n: number): number => Math.round(n * 10) / 10;

function treeDiagram(feeder: FeederConfig, devices: Array<{ sw: SwitchConfig; reversed: boolean }>): FeederDiagram {
  const mine = new Set(feeder.sections.map((s) => s.id));
  const names = new Map(feeder.sections.map((s) => [s.id, s.name]));
  // Children in the normal tree: non-tie devices of this feeder from a section to one not yet placed.
  const placed = new Map<string, { depth: number; row: number; x0: number }>();
  const switches: SwitchShape[] = [];
  const sectionPaths = new Map<string, string[]>();
  const sectionEnd = new Map<string, number>();
  let rows = 0;
  const breaker = feeder.switches.find((s) => s.id === feeder.breaker);
  const busX = MARGIN;
  const visit = (sectionId: string, depth: number, row: number, x0: number): void => {
    placed.set(sectionId, { depth, row, x0 });
    sectionPaths.set(sectionId, []);
    const y = MARGIN + row * ROW;
    const xEnd = MARGIN + (depth + 1) * COLUMN;
    sectionEnd.set(sectionId, xEnd);
    const outgoing = devices.filter(({ sw, reversed }) => (reversed ? sw.to === sectionId : sw.from === sectionId));
    const tree = outgoing.filter(({ sw, reversed }) => !reversed && sw.kind !== 'tie' && mine.has(sw.to) && !placed.has(sw.to));
    const stubs = outgoing.filter((o) => !tree.includes(o));
    const paths = sectionPaths.get(sectionId)!;
    paths.push(`M${x0},${y}H${xEnd}`);
    let first = true;
    for (const { sw } of tree) {
      if (placed.has(sw.to)) {
        stubs.push({ sw, reversed: false });
        continue;
      }
      const childRow = first ? row : ++rows;
      const cy = MARGIN + childRow * ROW;
      if (!first) paths.push(`M${xEnd - COLUMN / 2},${y}V${cy}H${xEnd}`);
      first = false;
      switches.push({ id: sw.id, kind: sw.kind, x: xEnd, y: cy, normal: sw.normal, stub: false, tie: false, side: sectionId });
      visit(sw.to, depth + 1, childRow, xEnd);
    }
    // Stubs (ties, loop devices) hang below the section's line, at its far end, one after the other.
    stubs.forEach(({ sw, reversed }, i) => {
      const sx = xEnd - COLUMN / 2 + 28 + i * 30;
      const sy = y + ROW / 2;
      paths.push(`M${sx},${y}V${sy - 9}`);
      const leadsTo = reversed ? (sw.from ?? '') : sw.to;
      switches.push({ id: sw.id, kind: sw.kind, x: sx, y: sy, normal: sw.normal, stub: true, tie: sw.kind === 'tie', leadsTo, side: sectionId });
    });
  };
  if (breaker) {
    switches.push({ id: breaker.id, kind: breaker.kind, x: busX + 30, y: MARGIN, normal: breaker.normal, stub: false, tie: false, side: null });
    visit(breaker.to, 0, 0, busX + 30);
  }
  // Sections the tree did not reach (cannot happen in a validated site; drawn apart rather than lost).
  for (const s of feeder.sections) {
    if (!placed.has(s.id)) visit(s.id, 0, ++rows, busX + 30);
  }
  const transformers: TransformerShape[] = [];
  const perSection = new Map<string, number>();
  for (const t of feeder.transformers) {
    const p = placed.get(t.section);
    if (!p) continue;
    const i = perSection.get(t.section) ?? 0;
    perSection.set(t.section, i + 1);
    const x = p.x0 + 40 + i * 24;
    const y = MARGIN + p.row * ROW;
    sectionPaths.get(t.section)!.push(`M${x},${y}V${y + 22}`);
    transformers.push({ id: t.id, section: t.section, x, y: y + 30, customers: t.customers.length });
  }
  const maxDepth = Math.max(0, ...[...placed.values()].map((p) => p.depth));
  return {
    feederId: feeder.id,
    name: feeder.name,
    width: MARGIN * 2 + (maxDepth + 1) * COLUMN + 40,
    height: MARGIN * 2 + rows * ROW + 50,
    bus: { x: busX, y1: MARGIN - 20, y2: MARGIN + 20 },
    sections: feeder.sections.map((s) => {
      const p = placed.get(s.id)!;
      return {
        id: s.id,
        name: names.get(s.id),
        d: sectionPaths.get(s.id)!.join(''),
        label: [r((p.x0 + (sectionEnd.get(s.id) ?? p.x0 + COLUMN)) / 2 + 10), MARGIN + p.row * ROW - 8] as [number, number],
      };
    }),
    switches,
    transformers,
    layout: 'tree',
  };
}

function positionedDiagram(feeder: FeederConfig, devices: Array<{ sw: SwitchConfig; reversed: boolean }>): FeederDiagram {
  const points: Array<readonly [number, number]> = [
    ...feeder.sections.map((s) => s.at!),
    ...devices.map(({ sw }) => sw.at!),
    ...feeder.transformers.flatMap((t) => (t.at ? [t.at] : [])),
  ];
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const span = Math.max(maxX - minX, maxY - minY, 1e-9);
  // Fit the larger extent into 800 units; keep the aspect ratio; y grows upwards in the site's units.
  const scale = 800 / span;
  const width = r((maxX - minX) * scale + 2 * MARGIN + 80);
  const height = r((maxY - minY) * scale + 2 * MARGIN + 40);
  const X = (p: readonly [number, number]): number => r(MARGIN + 40 + (p[0] - minX) * scale);
  const Y = (p: readonly [number, number]): number => r(MARGIN + (maxY - p[1]) * scale);
  const mine = new Set(feeder.sections.map((s) => s.id));
  const at = new Map(feeder.sections.map((s) => [s.id, s.at!]));
  const paths = new Map<string, string[]>(feeder.sections.map((s) => [s.id, []]));
  const switches: SwitchShape[] = [];
  for (const { sw, reversed } of devices) {
    const p = sw.at!;
    const stub = sw.kind === 'tie' || reversed;
    // Lines from the device to the section(s) of this feeder on either side.
    for (const side of [sw.from, sw.to]) {
      if (side === undefined || !mine.has(side)) continue;
      const s = at.get(side)!;
      paths.get(side)!.push(`M${X(s)},${Y(s)}L${X(p)},${Y(p)}`);
    }
    const side = reversed ? sw.to : (sw.from ?? null);
    const leadsTo = stub ? (reversed ? sw.from : sw.to) : undefined;
    switches.push({ id: sw.id, kind: sw.kind, x: X(p), y: Y(p), normal: sw.normal, stub, tie: sw.kind === 'tie', ...(leadsTo ? { leadsTo } : {}), side });
  }
  const breaker = feeder.switches.find((s) => s.id === feeder.breaker)!;
  const bx = X(breaker.at!);
  const by = Y(breaker.at!);
  const transformers: TransformerShape[] = [];
  const perSection = new Map<string, number>();
  for (const t of feeder.transformers) {
    const s = at.get(t.section)!;
    const i = perSection.get(t.section) ?? 0;
    perSection.set(t.section, i + 1);
    const x = t.at ? X(t.at) : X(s) + 14 + i * 20;
    const y = t.at ? Y(t.at) : Y(s) + 26;
    paths.get(t.section)!.push(`M${X(s)},${Y(s)}L${x},${y - 7}`);
    transformers.push({ id: t.id, section: t.section, x, y, customers: t.customers.length });
  }
  return {
    feederId: feeder.id,
    name: feeder.name,
    width,
    height,
    bus: { x: r(bx - 30), y1: r(by - 20), y2: r(by + 20) },
    sections: feeder.sections.map((s) => {
      const p = s.at!;
      // A section without lines (no device drawn next to it) is still a visible dot.
      const d = paths.get(s.id)!.join('') || `M${X(p) - 4},${Y(p)}H${X(p) + 4}`;
      return { id: s.id, name: s.name, d, label: [X(p) + 6, Y(p) - 8] as [number, number] };
    }),
    switches,
    transformers,
    layout: 'positions',
  };
}
