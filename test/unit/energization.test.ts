import t from 'tap';
import type { SiteConfig, SwitchConfig, SwitchState } from '../../gateway/config/site-config.js';
import { Energization, type EnergizationChange } from '../../gateway/engine/energization.js';
import type { SwitchPosition } from '../../gateway/engine/observation.js';
import { Topology } from '../../gateway/engine/topology.js';
import { twoFeeders } from '../fixtures/two-feeders.js';

function fresh(site: SiteConfig = twoFeeders): Energization {
  return new Energization(new Topology(site));
}

function sorted(change: EnergizationChange): EnergizationChange {
  return { energized: [...change.energized].sort(), deenergized: [...change.deenergized].sort() };
}

function liveSections(e: Energization): string[] {
  return [...e.energizedSections()].sort();
}

const ALL = ['F1-S1', 'F1-S2', 'F1-S3', 'F1-S4', 'F1-S5', 'F2-S1', 'F2-S2', 'F2-S3'];

t.test('normal configuration energizes every section', (t) => {
  const e = fresh();
  t.strictSame(liveSections(e), ALL);
  t.equal(e.position('TIE-1'), 'open');
  t.equal(e.position('F1-FU1'), 'closed', 'an untelemetered fuse starts at its normal position');
  t.end();
});

t.test('breaker open darkens its whole feeder', (t) => {
  const e = fresh();
  t.strictSame(sorted(e.setSwitch('F1-CB', 'open')), {
    energized: [],
    deenergized: ['F1-S1', 'F1-S2', 'F1-S3', 'F1-S4', 'F1-S5'],
  });
  t.strictSame(liveSections(e), ['F2-S1', 'F2-S2', 'F2-S3']);
  t.strictSame(sorted(e.setSwitch('F1-CB', 'closed')), {
    energized: ['F1-S1', 'F1-S2', 'F1-S3', 'F1-S4', 'F1-S5'],
    deenergized: [],
  });
  t.end();
});

t.test('tie close back-feeds the dark part of a feeder', (t) => {
  const e = fresh();
  e.setSwitch('F1-CB', 'open');
  t.strictSame(sorted(e.setSwitch('F1-R1', 'open')), { energized: [], deenergized: [] }, 'opening inside a dark region changes nothing');
  t.strictSame(sorted(e.setSwitch('TIE-1', 'closed')), {
    energized: ['F1-S2', 'F1-S3', 'F1-S4', 'F1-S5'],
    deenergized: [],
  });
  t.strictSame(liveSections(e), ['F1-S2', 'F1-S3', 'F1-S4', 'F1-S5', 'F2-S1', 'F2-S2', 'F2-S3']);
  t.strictSame(sorted(e.setSwitch('F2-CB', 'open')), {
    energized: [],
    deenergized: ['F1-S2', 'F1-S3', 'F1-S4', 'F1-S5', 'F2-S1', 'F2-S2', 'F2-S3'],
  }, 'the back-fed sections go dark with the feeder feeding them');
  t.end();
});

t.test('a closed tie keeps the far end live when its own feeder opens', (t) => {
  const e = fresh();
  t.strictSame(sorted(e.setSwitch('TIE-1', 'closed')), { energized: [], deenergized: [] }, 'joining two live feeders');
  t.strictSame(sorted(e.setSwitch('F1-SW3', 'open')), { energized: [], deenergized: [] }, 'F1-S4 stays fed by F2');
  t.strictSame(sorted(e.setSwitch('F1-CB', 'open')), { energized: [], deenergized: ['F1-S1', 'F1-S2', 'F1-S3', 'F1-S5'] });
  t.ok(e.isEnergized('F1-S4'));
  t.end();
});

t.test('fuse open darkens only its lateral', (t) => {
  const e = fresh();
  t.strictSame(sorted(e.setSwitch('F1-FU1', 'open')), { energized: [], deenergized: ['F1-S5'] });
  t.strictSame(sorted(e.setSwitch('F1-FU1', 'closed')), { energized: ['F1-S5'], deenergized: [] });
  t.end();
});

t.test('opening a device inside a loop changes nothing', (t) => {
  const e = fresh();
  e.setSwitch('TIE-1', 'closed');
  e.setSwitch('TIE-2', 'closed');
  t.strictSame(sorted(e.setSwitch('F1-SW2', 'open')), { energized: [], deenergized: [] }, 'F1-S3 is fed round the loop');
  t.strictSame(sorted(e.setSwitch('F2-CB', 'open')), { energized: [], deenergized: [] }, 'F2 is fed through TIE-2');
  t.strictSame(sorted(e.setSwitch('TIE-2', 'open')), {
    energized: [],
    deenergized: ['F1-S3', 'F1-S4', 'F2-S1', 'F2-S2', 'F2-S3'],
  });
  t.strictSame(liveSections(e), ['F1-S1', 'F1-S2', 'F1-S5']);
  t.end();
});

t.test('intermediate and invalid keep the last known position', (t) => {
  const e = fresh();
  t.strictSame(e.setSwitch('F1-CB', 'intermediate'), { energized: [], deenergized: [] });
  t.equal(e.reportedPosition('F1-CB'), 'unknown');
  t.equal(e.position('F1-CB'), 'closed');
  t.ok(e.isEnergized('F1-S1'));
  t.strictSame(e.setSwitch('F1-CB', 'invalid'), { energized: [], deenergized: [] });
  t.strictSame(sorted(e.setSwitch('F1-CB', 'open')), {
    energized: [],
    deenergized: ['F1-S1', 'F1-S2', 'F1-S3', 'F1-S4', 'F1-S5'],
  });
  t.equal(e.reportedPosition('F1-CB'), 'open');
  t.strictSame(e.setSwitch('F1-CB', 'intermediate'), { energized: [], deenergized: [] }, 'closing in progress');
  t.notOk(e.isEnergized('F1-S1'));
  t.strictSame(e.setSwitch('F1-CB', 'open'), { energized: [], deenergized: [] }, 'a repeated position is no change');
  t.strictSame(e.setSwitch('NOPE', 'open'), { energized: [], deenergized: [] }, 'unknown device');
  t.end();
});

t.test('recomputeAll reports and repairs nothing after incremental changes', (t) => {
  const e = fresh();
  e.setSwitch('F1-CB', 'open');
  e.setSwitch('TIE-1', 'closed');
  t.strictSame(e.recomputeAll(), { energized: [], deenergized: [] });
  t.strictSame(liveSections(e), ['F1-S1', 'F1-S2', 'F1-S3', 'F1-S4', 'F1-S5', 'F2-S1', 'F2-S2', 'F2-S3']);
  t.end();
});

/** mulberry32: a small seeded PRNG so the random sequences are the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Independent reference: fixed-point iteration over the raw configuration (no Topology, no search),
 * with its own record of positions.
 */
function referenceLive(site: SiteConfig, positions: Map<string, SwitchState>): string[] {
  const switches: SwitchConfig[] = site.feeders.flatMap((f) => f.switches);
  const live = new Set<string>();
  let changed = true;
  while (changed) {
    changed = false;
    for (const sw of switches) {
      if (positions.get(sw.id) !== 'closed') continue;
      const ends = sw.from === undefined ? [sw.to] : [sw.from, sw.to];
      const fed = sw.from === undefined || ends.some((s) => live.has(s));
      if (!fed) continue;
      for (const s of ends) {
        if (!live.has(s)) {
          live.add(s);
          changed = true;
        }
      }
    }
  }
  return [...live].sort();
}

interface RunResult {
  mismatches: number;
  firstMismatch: string | null;
  flips: number;
}

function randomRun(site: SiteConfig, seed: number, steps: number): RunResult {
  const e = fresh(site);
  const rnd = prng(seed);
  const ids = site.feeders.flatMap((f) => f.switches.map((s) => s.id));
  const positions = new Map<string, SwitchState>(site.feeders.flatMap((f) => f.switches.map((s) => [s.id, s.normal] as const)));
  const choices: SwitchPosition[] = ['open', 'closed', 'open', 'closed', 'intermediate', 'invalid'];
  let mismatches = 0;
  let firstMismatch: string | null = null;
  let flips = 0;
  for (let i = 0; i < steps; i++) {
    const id = ids[Math.floor(rnd() * ids.length)]!;
    const position = choices[Math.floor(rnd() * choices.length)]!;
    const before = new Set(e.energizedSections());
    const change = e.setSwitch(id, position);
    if (position === 'open' || position === 'closed') positions.set(id, position);
    const expected = referenceLive(site, positions);
    const after = liveSections(e);
    const reportedOk =
      change.energized.every((s) => !before.has(s) && e.isEnergized(s)) &&
      change.deenergized.every((s) => before.has(s) && !e.isEnergized(s)) &&
      change.energized.length + change.deenergized.length ===
        [...before].filter((s) => !e.isEnergized(s)).length + after.filter((s) => !before.has(s)).length;
    const recomputed = e.recomputeAll();
    if (
      JSON.stringify(after) !== JSON.stringify(expected) ||
      !reportedOk ||
      recomputed.energized.length + recomputed.deenergized.length > 0
    ) {
      mismatches++;
      firstMismatch ??= `step ${i}: ${id} ${position}: got ${after.join(',')} expected ${expected.join(',')}`;
    }
    flips += change.energized.length + change.deenergized.length;
  }
  return { mismatches, firstMismatch, flips };
}

t.test('random operations on the fixture: incremental equals full traversal', (t) => {
  for (const seed of [1, 2, 3, 42, 2024]) {
    const run = randomRun(twoFeeders, seed, 2000);
    t.equal(run.firstMismatch, null, `seed ${seed}: incremental equals the reference and recomputeAll`);
    t.ok(run.flips > 100, `seed ${seed}: the run changed energization (${run.flips} section flips)`);
  }
  t.end();
});

/** A random meshed network: a few radial feeders with laterals, joined by many normally-open ties. */
function randomSite(seed: number): SiteConfig {
  const rnd = prng(seed);
  const feeders: SiteConfig['feeders'] = [];
  const allSections: string[] = [];
  for (let f = 0; f < 4; f++) {
    const sections = [`N${f}-0`];
    const switches: SwitchConfig[] = [{ id: `N${f}-CB`, kind: 'breaker', to: `N${f}-0`, normal: 'closed' }];
    for (let s = 1; s < 15; s++) {
      const parent = sections[Math.floor(rnd() * sections.length)]!;
      const id = `N${f}-${s}`;
      sections.push(id);
      switches.push({ id: `N${f}-SW${s}`, kind: 'sectionalizer', from: parent, to: id, normal: 'closed' });
    }
    allSections.push(...sections);
    feeders.push({ id: `N${f}`, breaker: `N${f}-CB`, switches, sections: sections.map((id) => ({ id })), transformers: [] });
  }
  for (let k = 0; k < 12; k++) {
    const a = allSections[Math.floor(rnd() * allSections.length)]!;
    let b = allSections[Math.floor(rnd() * allSections.length)]!;
    if (a === b) b = allSections[(allSections.indexOf(a) + 1) % allSections.length]!;
    feeders[0]!.switches.push({ id: `TIE-${k}`, kind: 'tie', from: a, to: b, normal: 'open' });
  }
  return { ...twoFeeders, siteId: `random-${seed}`, feeders };
}

t.test('random operations on generated meshed networks', (t) => {
  for (const seed of [7, 8, 9]) {
    const run = randomRun(randomSite(seed), seed, 3000);
    t.equal(run.firstMismatch, null, `seed ${seed}: incremental equals the reference and recomputeAll`);
    t.ok(run.flips > 150, `seed ${seed}: the run changed energization (${run.flips} section flips)`);
  }
  t.end();
});
