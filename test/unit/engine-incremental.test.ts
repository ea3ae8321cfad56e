/**
 * Property: on generated substations (trunk, recloser, fused laterals, ties between feeders), after any
 * sequence of switch operations the engine's incremental state equals what a full recompute says:
 * - energization equals a breadth-first traversal from the closed breakers, written here from the site
 *   document alone;
 * - every dark section is in exactly one active switching outage (the per-section tables of the outage
 *   tracker), and the customers the outages say are out now are exactly those of the dark sections;
 * - an engine that exports its state at any point and a fresh engine that imports it emit the same events
 *   for the rest of the sequence (the tables export in section order, not in the order sections went dark).
 */
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import { ManualClock } from '../../gateway/clock.js';
import { parseSiteConfig } from '../../gateway/config/load-site.js';
import type { SiteConfig } from '../../gateway/config/site-config.js';
import { Engine } from '../../gateway/engine/engine.js';
import type { DomainEvent } from '../../gateway/engine/events.js';
import type { Observation, SwitchPosition } from '../../gateway/engine/observation.js';
import { EventSequence } from '../../gateway/engine/sequence.js';
import { generateSubstation, substationYaml, type SyntheticSiteDocument } from '../../simulators/synthetic/substation.js';

const T0 = Date.parse('2024-05-01T08:00:00.000Z');

interface Case {
  doc: SyntheticSiteDocument;
  site: SiteConfig;
}

function makeCase(feeders: number, transformers: number, customers: number): Case {
  const doc = generateSubstation({ feeders, transformersPerFeeder: transformers, customersPerTransformer: customers, ftus: false });
  return { doc, site: parseSiteConfig(substationYaml(doc), { env: {} }) };
}

const cases = [makeCase(1, 4, 1), makeCase(2, 7, 2), makeCase(3, 10, 2)];

/** Energized sections by a traversal from scratch over the document's switches. */
function referenceEnergized(doc: SyntheticSiteDocument, positions: Map<string, 'open' | 'closed'>): Set<string> {
  const switches = doc.feeders.flatMap((f) => f.switches);
  const live = new Set<string>();
  const queue: string[] = [];
  for (const sw of switches) {
    if (sw.from === undefined && positions.get(sw.id) === 'closed' && !live.has(sw.to)) {
      live.add(sw.to);
      queue.push(sw.to);
    }
  }
  while (queue.length > 0) {
    const section = queue.shift()!;
    for (const sw of switches) {
      if (sw.from === undefined || positions.get(sw.id) !== 'closed') continue;
      const next = sw.from === section ? sw.to : sw.to === section ? sw.from : null;
      if (next !== null && !live.has(next)) {
        live.add(next);
        queue.push(next);
      }
    }
  }
  return live;
}

function newEngine(site: SiteConfig, firstSeq = 1): Engine {
  return new Engine(site, { clock: new ManualClock(T0), sequence: new EventSequence(site.siteId, firstSeq) });
}

const opArb = fc.record({
  device: fc.nat(),
  position: fc.constantFrom<SwitchPosition>('open', 'closed', 'open', 'closed', 'intermediate'),
  faultFlag: fc.boolean(),
  gapMs: fc.integer({ min: 0, max: 400_000 }),
});

const scenarioArb = fc.record({
  caseIndex: fc.nat({ max: cases.length - 1 }),
  ops: fc.array(opArb, { minLength: 1, maxLength: 40 }),
  exportAt: fc.nat(),
});

t.test('incremental energization and outage tables equal a full recompute after any switching', (t) => {
  fc.assert(
    fc.property(scenarioArb, ({ caseIndex, ops, exportAt }) => {
      const { doc, site } = cases[caseIndex]!;
      const switches = doc.feeders.flatMap((f) => f.switches);
      const sections = doc.feeders.flatMap((f) => f.sections.map((s) => s.id));
      const customersOf = new Map<string, number>();
      for (const f of doc.feeders) for (const tr of f.transformers) customersOf.set(tr.section, (customersOf.get(tr.section) ?? 0) + tr.customers.length);
      const positions = new Map(switches.map((s) => [s.id, s.normal] as const));
      const engine = newEngine(site);
      const cut = exportAt % (ops.length + 1);
      let restored: Engine | null = null;
      let ts = T0;
      ops.forEach((op, i) => {
        if (i === cut) {
          const state = JSON.parse(JSON.stringify(engine.exportState())) as ReturnType<Engine['exportState']>;
          restored = newEngine(site, Number.MAX_SAFE_INTEGER);
          restored.importState(state);
        }
        const sw = switches[op.device % switches.length]!;
        ts += op.gapMs;
        const batch: Observation[] = [];
        if (op.faultFlag) batch.push({ kind: 'switch.faultFlag', switchId: sw.id, fault: op.position === 'open', ts });
        batch.push({ kind: 'switch.position', switchId: sw.id, position: op.position, ts });
        if (op.position === 'open' || op.position === 'closed') positions.set(sw.id, op.position);
        const events = engine.apply(batch);
        if (restored !== null) {
          const again: DomainEvent[] = (restored as Engine).apply(batch);
          const strip = (es: DomainEvent[]): unknown[] => es.map(({ id: _id, seq: _seq, ...rest }) => rest);
          if (!isDeepStrictEqual(strip(again), strip(events))) {
            throw new Error(`op ${i} (${sw.id} ${op.position}): the restored engine emits ${JSON.stringify(strip(again))}, the original ${JSON.stringify(strip(events))}`);
          }
        }

        const expected = referenceEnergized(doc, positions);
        const dark = sections.filter((s) => !expected.has(s));
        for (const s of sections) {
          if (engine.isEnergized(s) !== expected.has(s)) throw new Error(`op ${i} (${sw.id} ${op.position}): ${s} energized ${engine.isEnergized(s)}, expected ${expected.has(s)}`);
        }
        const outages = engine.activeOutages().filter((o) => o.causeDevice !== null);
        const inOutages = outages.flatMap((o) => o.currentSections);
        if (new Set(inOutages).size !== inOutages.length) throw new Error(`op ${i}: a section is in two outages: ${inOutages.join()}`);
        if ([...inOutages].sort().join() !== [...dark].sort().join()) {
          throw new Error(`op ${i}: outages cover ${[...inOutages].sort().join()}, dark ${[...dark].sort().join()}`);
        }
        const customersOut = outages.reduce((n, o) => n + o.currentCustomerCount, 0);
        const expectedOut = dark.reduce((n, s) => n + (customersOf.get(s) ?? 0), 0);
        if (customersOut !== expectedOut) throw new Error(`op ${i}: ${customersOut} customers out, expected ${expectedOut}`);
      });
    }),
    { numRuns: 150 },
  );
  t.pass('150 random switching sequences');
  t.end();
});

t.test('the reference itself: a 2-feeder substation with a tie, by hand', (t) => {
  const { doc } = cases[1]!;
  const positions = new Map(doc.feeders.flatMap((f) => f.switches).map((s) => [s.id, s.normal] as const));
  positions.set('F01-CB', 'open');
  t.strictSame([...referenceEnergized(doc, positions)].filter((s) => s.startsWith('F01')), [], 'breaker open, tie open: F01 dark');
  positions.set('TIE-01-02', 'closed');
  positions.set('F01-R02', 'open');
  t.strictSame(
    [...referenceEnergized(doc, positions)].filter((s) => s.startsWith('F01')).sort(),
    ['F01-L0201', 'F01-L0301', 'F01-S02', 'F01-S03'],
    'back-fed through the tie up to the open recloser',
  );
  t.end();
});
