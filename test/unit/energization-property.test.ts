/**
 * Property: on random radial feeders with random normally-open ties (meshed once ties close), after any
 * sequence of switch operations the engine's incremental energization, and the customers its active
 * outages say are out, equal a brute-force reference computed here from scratch.
 */
import fc from 'fast-check';
import t from 'tap';
import { ManualClock } from '../../gateway/clock.js';
import type { FeederConfig, SiteConfig, SwitchKind } from '../../gateway/config/site-config.js';
import { Engine } from '../../gateway/engine/engine.js';
import { EventSequence } from '../../gateway/engine/sequence.js';

const T0 = Date.parse('2024-05-01T08:00:00.000Z');

interface Shape {
  /** Per feeder, the parent index (within the feeder) of sections 1..n-1. */
  feeders: Array<{ parents: number[] }>;
  ties: Array<{ a: [number, number]; b: [number, number] }>;
}

interface Edge {
  id: string;
  from: string | null;
  to: string;
  normal: 'open' | 'closed';
}

const shapeArb: fc.Arbitrary<Shape> = fc
  .array(
    fc.integer({ min: 1, max: 7 }).chain((n) =>
      fc.tuple(...Array.from({ length: n - 1 }, (_, i) => fc.integer({ min: 0, max: i }))).map((parents) => ({ parents: parents as number[] })),
    ),
    { minLength: 1, maxLength: 3 },
  )
  .chain((feeders) => {
    const point = fc.integer({ min: 0, max: feeders.length - 1 }).chain((f) => fc.tuple(fc.constant(f), fc.integer({ min: 0, max: feeders[f]!.parents.length })));
    return fc.array(fc.record({ a: point, b: point }), { maxLength: 4 }).map((ties) => ({ feeders, ties }));
  });

function build(shape: Shape): { site: SiteConfig; edges: Edge[]; customersOf: Map<string, string[]> } {
  const edges: Edge[] = [];
  const customersOf = new Map<string, string[]>();
  const kinds: SwitchKind[] = ['recloser', 'sectionalizer', 'loadBreakSwitch', 'fuse'];
  const feeders: FeederConfig[] = shape.feeders.map((f, fi) => {
    const sec = (i: number) => `F${fi}-S${i}`;
    const switches: FeederConfig['switches'] = [{ id: `F${fi}-CB`, kind: 'breaker', to: sec(0), normal: 'closed' }];
    edges.push({ id: `F${fi}-CB`, from: null, to: sec(0), normal: 'closed' });
    f.parents.forEach((p, i) => {
      const id = `F${fi}-SW${i + 1}`;
      switches.push({ id, kind: kinds[i % kinds.length]!, from: sec(p), to: sec(i + 1), normal: 'closed' });
      edges.push({ id, from: sec(p), to: sec(i + 1), normal: 'closed' });
    });
    const n = f.parents.length + 1;
    const sections = Array.from({ length: n }, (_, i) => ({ id: sec(i) }));
    const transformers = sections.map((s, i) => {
      const customers = Array.from({ length: (i % 3) + 1 }, (_, k) => `C-${s.id}-${k}`);
      customersOf.set(s.id, customers);
      return { id: `T-${s.id}`, section: s.id, areaClass: 'urban' as const, customers };
    });
    return { id: `F${fi}`, breaker: `F${fi}-CB`, switches, sections, transformers };
  });
  shape.ties.forEach((tie, i) => {
    const a = `F${tie.a[0]}-S${tie.a[1]}`;
    const b = `F${tie.b[0]}-S${tie.b[1]}`;
    if (a === b) return;
    const id = `TIE-${i}`;
    feeders[tie.a[0]]!.switches.push({ id, kind: 'tie', from: a, to: b, normal: 'open' });
    edges.push({ id, from: a, to: b, normal: 'open' });
  });
  const site: SiteConfig = {
    siteId: 'prop',
    thresholds: { meterVoltageLossV: 110, meterLossHoldMs: 0, momentaryStandard: 'DL/T 836', momentaryThresholdMs: 180_000, transformerOutShare: 0.6, selfHealingQuietMs: 30_000 },
    simulator: { controlHost: '127.0.0.1', controlPort: 0, meterNominalV: 220 },
    devices: [],
    buses: [],
    plannedOutages: [],
  notices: { leadTimeMs: 604_800_000, batchSize: 500 },
    feeders,
  };
  return { site, edges, customersOf };
}

/** Brute force: flood from every closed bus-fed device through closed devices. */
function reference(edges: Edge[], positions: Map<string, 'open' | 'closed'>): Set<string> {
  const live = new Set<string>();
  for (const e of edges) if (e.from === null && positions.get(e.id) === 'closed') live.add(e.to);
  for (let grew = true; grew; ) {
    grew = false;
    for (const e of edges) {
      if (e.from === null || positions.get(e.id) !== 'closed') continue;
      if (live.has(e.from) !== live.has(e.to)) {
        live.add(e.from);
        live.add(e.to);
        grew = true;
      }
    }
  }
  return live;
}

t.test('energization and affected customers equal a brute-force reference', (t) => {
  fc.assert(
    fc.property(
      shapeArb.chain((shape) => {
        const { edges } = build(shape);
        const op = fc.record({ sw: fc.integer({ min: 0, max: edges.length - 1 }), position: fc.constantFrom<'open' | 'closed'>('open', 'closed') });
        return fc.tuple(fc.constant(shape), fc.array(op, { maxLength: 30 }));
      }),
      ([shape, ops]) => {
        const { site, edges, customersOf } = build(shape);
        const engine = new Engine(site, { clock: new ManualClock(T0), sequence: new EventSequence('prop') });
        const positions = new Map(edges.map((e) => [e.id, e.normal]));
        ops.forEach((op, i) => {
          const edge = edges[op.sw]!;
          positions.set(edge.id, op.position);
          engine.apply([{ kind: 'switch.position', switchId: edge.id, position: op.position, ts: T0 + i * 1000 }]);
          const live = reference(edges, positions);
          const dark = new Set<string>();
          for (const id of engine.topology.sectionIds()) {
            if (engine.isEnergized(id) !== live.has(id)) throw new Error(`after op ${i}: ${id} energized=${engine.isEnergized(id)}, reference ${live.has(id)}`);
            if (!live.has(id)) dark.add(id);
          }
          const outSections = new Set<string>();
          let outCustomers = 0;
          for (const o of engine.activeOutages()) {
            for (const s of o.currentSections) {
              if (outSections.has(s)) throw new Error(`section ${s} in two outages`);
              outSections.add(s);
            }
            outCustomers += o.currentCustomerCount;
          }
          const expectedCustomers = [...dark].reduce((n, s) => n + customersOf.get(s)!.length, 0);
          if ([...dark].sort().join() !== [...outSections].sort().join()) {
            throw new Error(`after op ${i}: outages cover ${[...outSections].sort().join()}, dark ${[...dark].sort().join()}`);
          }
          if (outCustomers !== expectedCustomers) throw new Error(`after op ${i}: ${outCustomers} customers out, reference ${expectedCustomers}`);
        });
      },
    ),
    { numRuns: 300, seed: 20240501 },
  );
  t.pass('300 random topologies and switching sequences');
  t.end();
});
