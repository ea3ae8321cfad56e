/**
 * Self-healing recognition on the two-feeder fixture, driven directly (a small EngineContext over the real
 * Topology and Energization), with observation sequences written by hand as the simulator's feeder
 * automation would produce them, and hand-written expected reports.
 */
import t, { type Test } from 'tap';
import type { SiteConfig } from '../../gateway/config/site-config.js';
import type { EngineContext, ExtensionEvent } from '../../gateway/engine/engine-hooks.js';
import { Energization } from '../../gateway/engine/energization.js';
import type { Outage, SelfHealingReport, SelfHealingStep } from '../../gateway/engine/events.js';
import type { Observation } from '../../gateway/engine/observation.js';
import { SelfHealingRecognizer, type SelfHealingOptions } from '../../gateway/engine/self-healing/recognizer.js';
import { Topology } from '../../gateway/engine/topology.js';
import { twoFeeders } from '../fixtures/two-feeders.js';

const T0 = Date.parse('2024-05-01T08:00:00.000Z');
const S = 1000;
const iso = (offsetMs: number): string => new Date(T0 + offsetMs).toISOString();

const S1 = ['C111', 'C112'];
const S2 = ['C121', 'C122', 'C123'];
const S3 = ['C131', 'C132', 'C133', 'C134'];
const S4 = ['C141', 'C142'];
const S5 = ['C151'];
const ALL_F1 = ['F1-S1', 'F1-S2', 'F1-S3', 'F1-S4', 'F1-S5'];

class Harness {
  readonly topology: Topology;
  readonly energization: Energization;
  recognizer: SelfHealingRecognizer;
  readonly events: ExtensionEvent[] = [];
  outages: Outage[] = [];
  readonly ctx: EngineContext;

  constructor(options: SelfHealingOptions = {}, site: SiteConfig = twoFeeders) {
    this.topology = new Topology(site);
    this.energization = new Energization(this.topology);
    this.recognizer = new SelfHealingRecognizer(site, options);
    const e = this.energization;
    this.ctx = {
      topology: this.topology,
      isEnergized: (id) => e.isEnergized(id),
      position: (id) => e.position(id),
      activeOutages: () => this.outages,
    };
  }

  apply(o: Observation): this {
    const change = o.kind === 'switch.position' ? this.energization.setSwitch(o.switchId, o.position) : null;
    this.events.push(...this.recognizer.observe(o, change, this.ctx));
    return this;
  }

  open(offset: number, id: string): this {
    return this.apply({ kind: 'switch.position', switchId: id, position: 'open', ts: T0 + offset });
  }

  close(offset: number, id: string): this {
    return this.apply({ kind: 'switch.position', switchId: id, position: 'closed', ts: T0 + offset });
  }

  flags(offset: number, ...ids: string[]): this {
    for (const id of ids) this.apply({ kind: 'switch.faultFlag', switchId: id, fault: true, ts: T0 + offset });
    return this;
  }

  lockout(offset: number, id: string, lockedOut = true): this {
    return this.apply({ kind: 'switch.lockout', switchId: id, lockedOut, ts: T0 + offset });
  }

  tick(offset: number): this {
    this.events.push(...this.recognizer.tick(T0 + offset, this.ctx));
    return this;
  }

  completed(): SelfHealingReport[] {
    return this.events.filter((e) => e.type === 'selfHealing.completed').map((e) => e.report);
  }

  progress(): SelfHealingReport[] {
    return this.events.filter((e) => e.type === 'selfHealing.progress').map((e) => e.report);
  }

  onlyReport(t: Test): SelfHealingReport {
    const done = this.completed();
    t.equal(done.length, 1, 'exactly one completed report');
    return done[0]!;
  }
}

function step(
  offset: number,
  action: SelfHealingStep['action'],
  device: string,
  energized: string[] = [],
  deenergized: string[] = [],
  customersRestored = 0,
): SelfHealingStep {
  return { at: iso(offset), action, device, energized, deenergized, customersRestored };
}

const ID = (offset: number): string => `test-site-sh-${new Date(T0 + offset).toISOString().replace(/[-:]/g, '').replace('.', '').replace('Z', '')}-F1`;

/** Fault in F1-S3: fault current through F1-CB, F1-R1 and F1-SW2; the breaker trips, recloses once onto the fault and locks out. */
function centralizedStart(h: Harness): Harness {
  return h
    .flags(0, 'F1-CB', 'F1-R1', 'F1-SW2')
    .open(0, 'F1-CB')
    .close(1 * S, 'F1-CB')
    .open(1 * S + 100, 'F1-CB')
    .lockout(1 * S + 100, 'F1-CB');
}

const centralizedSteps: SelfHealingStep[] = [
  step(0, 'faultFlag', 'F1-CB'),
  step(0, 'faultFlag', 'F1-R1'),
  step(0, 'faultFlag', 'F1-SW2'),
  step(0, 'trip', 'F1-CB', [], ALL_F1),
  step(1 * S, 'reclose', 'F1-CB', ALL_F1, [], 12),
  step(1 * S + 100, 'trip', 'F1-CB', [], ALL_F1),
  step(1 * S + 100, 'lockout', 'F1-CB'),
  step(20 * S, 'open', 'F1-SW2'),
  step(22 * S, 'open', 'F1-SW3'),
  step(25 * S, 'reclose', 'F1-CB', ['F1-S1', 'F1-S2', 'F1-S5'], [], 6),
];

t.test('centralized FLISR: isolate, reclose upstream, transfer through the tie', (t) => {
  const h = centralizedStart(new Harness());
  h.outages = [{ id: 'test-site-20240501T080000000-F1-CB', feederIds: ['F1'] } as Outage];
  h.open(20 * S, 'F1-SW2').open(22 * S, 'F1-SW3').close(25 * S, 'F1-CB').close(30 * S, 'TIE-1');
  t.equal(h.completed().length, 0, 'still running before the quiet time');
  t.strictSame(h.progress().map((r) => r.steps.at(-1)!.device), ['F1-CB', 'F1-SW2', 'F1-SW3', 'F1-CB', 'TIE-1'], 'progress on each restoration or isolation');
  const last = h.progress().at(-1)!;
  t.equal(last.state, 'running');
  t.equal(last.outcome, null);
  h.tick(59 * S + 999);
  t.equal(h.completed().length, 0);
  h.tick(60 * S);
  t.strictSame(h.onlyReport(t), {
    id: ID(0),
    siteId: 'test-site',
    feederId: 'F1',
    kind: 'centralized',
    state: 'completed',
    outcome: 'restored',
    faultSection: 'F1-S3',
    isolatingDevices: ['F1-SW2', 'F1-SW3'],
    restoredUpstream: { sections: ['F1-S1', 'F1-S2', 'F1-S5'], customers: [...S1, ...S2, ...S5] },
    restoredByTransfer: [{ tie: 'TIE-1', fromFeeder: 'F2', sections: ['F1-S4'], customers: S4 }],
    stillOut: { sections: ['F1-S3'], customers: S3 },
    steps: [...centralizedSteps, step(30 * S, 'transfer', 'TIE-1', ['F1-S4'], [], 2)],
    startedAt: iso(0),
    completedAt: iso(30 * S),
    durationMs: 30 * S,
    outageIds: ['test-site-20240501T080000000-F1-CB'],
  });
  t.strictSame(h.recognizer.activeFeeders, []);
  t.end();
});

t.test('centralized FLISR, partial: the tie is not closed (its feeder is short of capacity)', (t) => {
  const h = centralizedStart(new Harness());
  h.open(20 * S, 'F1-SW2').open(22 * S, 'F1-SW3').close(25 * S, 'F1-CB').tick(55 * S);
  const r = h.onlyReport(t);
  t.equal(r.kind, 'centralized');
  t.equal(r.outcome, 'partiallyRestored');
  t.equal(r.faultSection, 'F1-S3');
  t.strictSame(r.isolatingDevices, ['F1-SW2', 'F1-SW3']);
  t.strictSame(r.restoredUpstream, { sections: ['F1-S1', 'F1-S2', 'F1-S5'], customers: [...S1, ...S2, ...S5] });
  t.strictSame(r.restoredByTransfer, []);
  t.strictSame(r.stillOut, { sections: ['F1-S3', 'F1-S4'], customers: [...S3, ...S4] });
  t.strictSame(r.steps, centralizedSteps);
  t.equal(r.completedAt, iso(25 * S));
  t.equal(r.durationMs, 25 * S);
  t.end();
});

t.test('centralized FLISR, failure: the breaker trips again when the master closes it', (t) => {
  const h = centralizedStart(new Harness());
  h.open(20 * S, 'F1-SW2')
    .open(22 * S, 'F1-SW3')
    .lockout(24 * S, 'F1-CB', false)
    .close(25 * S, 'F1-CB')
    .open(25 * S + 100, 'F1-CB')
    .lockout(25 * S + 100, 'F1-CB')
    .tick(60 * S);
  const r = h.onlyReport(t);
  t.equal(r.kind, 'centralized');
  t.equal(r.outcome, 'failed');
  t.equal(r.faultSection, 'F1-S3');
  t.strictSame(r.isolatingDevices, ['F1-SW2', 'F1-SW3']);
  t.strictSame(r.restoredUpstream, { sections: [], customers: [] });
  t.strictSame(r.stillOut, { sections: ALL_F1, customers: [...S1, ...S2, ...S3, ...S4, ...S5] });
  t.strictSame(r.steps.slice(-3), [
    step(25 * S, 'reclose', 'F1-CB', ['F1-S1', 'F1-S2', 'F1-S5'], [], 6),
    step(25 * S + 100, 'trip', 'F1-CB', [], ['F1-S1', 'F1-S2', 'F1-S5']),
    step(25 * S + 100, 'lockout', 'F1-CB'),
  ]);
  t.end();
});

/**
 * Voltage-time FA on F1, fault in F1-S3: the breaker trips; F1-R1, F1-SW2 and F1-SW3 open on loss of voltage
 * after 3 s; the breaker recloses at 5 s; F1-R1 closes X = 7 s later; F1-SW2 closes onto the fault at 19 s and
 * the breaker trips again; F1-SW2 locks open (closed within Y), F1-R1 opens on loss of voltage again.
 */
function voltageTimeStart(h: Harness): Harness {
  return h
    .flags(0, 'F1-CB', 'F1-R1', 'F1-SW2')
    .open(0, 'F1-CB')
    .open(3 * S, 'F1-R1')
    .open(3 * S, 'F1-SW2')
    .open(3 * S, 'F1-SW3')
    .close(5 * S, 'F1-CB')
    .close(12 * S, 'F1-R1')
    .close(19 * S, 'F1-SW2')
    .open(19 * S + 100, 'F1-CB')
    .open(19 * S + 150, 'F1-SW2')
    .lockout(19 * S + 150, 'F1-SW2')
    .open(22 * S + 100, 'F1-R1');
}

const voltageTimeSteps: SelfHealingStep[] = [
  step(0, 'faultFlag', 'F1-CB'),
  step(0, 'faultFlag', 'F1-R1'),
  step(0, 'faultFlag', 'F1-SW2'),
  step(0, 'trip', 'F1-CB', [], ALL_F1),
  step(3 * S, 'open', 'F1-R1'),
  step(3 * S, 'open', 'F1-SW2'),
  step(3 * S, 'open', 'F1-SW3'),
  step(5 * S, 'reclose', 'F1-CB', ['F1-S1'], [], 2),
  step(12 * S, 'close', 'F1-R1', ['F1-S2', 'F1-S5'], [], 4),
  step(19 * S, 'close', 'F1-SW2', ['F1-S3'], [], 4),
  step(19 * S + 100, 'trip', 'F1-CB', [], ['F1-S1', 'F1-S2', 'F1-S3', 'F1-S5']),
  step(19 * S + 150, 'open', 'F1-SW2'),
  step(19 * S + 150, 'lockout', 'F1-SW2'),
  step(22 * S + 100, 'open', 'F1-R1'),
];

t.test('voltage-time FA: the switch closing onto the fault locks open, the tie back-feeds the healthy end', (t) => {
  const h = voltageTimeStart(new Harness());
  h.close(24 * S + 100, 'F1-CB').close(31 * S + 100, 'F1-R1').close(36 * S + 100, 'TIE-1');
  h.tick(66 * S + 100);
  t.strictSame(h.onlyReport(t), {
    id: ID(0),
    siteId: 'test-site',
    feederId: 'F1',
    kind: 'voltageTime',
    state: 'completed',
    outcome: 'restored',
    faultSection: 'F1-S3',
    isolatingDevices: ['F1-SW2', 'F1-SW3'],
    restoredUpstream: { sections: ['F1-S1', 'F1-S2', 'F1-S5'], customers: [...S1, ...S2, ...S5] },
    restoredByTransfer: [{ tie: 'TIE-1', fromFeeder: 'F2', sections: ['F1-S4'], customers: S4 }],
    stillOut: { sections: ['F1-S3'], customers: S3 },
    steps: [
      ...voltageTimeSteps,
      step(24 * S + 100, 'reclose', 'F1-CB', ['F1-S1'], [], 2),
      step(31 * S + 100, 'close', 'F1-R1', ['F1-S2', 'F1-S5'], [], 4),
      step(36 * S + 100, 'transfer', 'TIE-1', ['F1-S4'], [], 2),
    ],
    startedAt: iso(0),
    completedAt: iso(36 * S + 100),
    durationMs: 36 * S + 100,
    outageIds: [],
  });
  t.end();
});

t.test('voltage-time FA, partial: the tie stays open', (t) => {
  const h = voltageTimeStart(new Harness());
  h.close(24 * S + 100, 'F1-CB').close(31 * S + 100, 'F1-R1').tick(61 * S + 100);
  const r = h.onlyReport(t);
  t.equal(r.kind, 'voltageTime');
  t.equal(r.outcome, 'partiallyRestored');
  t.equal(r.faultSection, 'F1-S3');
  t.strictSame(r.isolatingDevices, ['F1-SW2', 'F1-SW3']);
  t.strictSame(r.restoredUpstream.sections, ['F1-S1', 'F1-S2', 'F1-S5']);
  t.strictSame(r.restoredByTransfer, []);
  t.strictSame(r.stillOut, { sections: ['F1-S3', 'F1-S4'], customers: [...S3, ...S4] });
  t.equal(r.durationMs, 31 * S + 100);
  t.end();
});

t.test('voltage-time FA, failure: the breaker locks out after closing onto the fault', (t) => {
  const h = voltageTimeStart(new Harness());
  h.lockout(19 * S + 100, 'F1-CB').tick(52 * S + 100);
  const r = h.onlyReport(t);
  t.equal(r.kind, 'voltageTime');
  t.equal(r.outcome, 'failed');
  t.equal(r.faultSection, 'F1-S3');
  t.strictSame(r.isolatingDevices, ['F1-SW2', 'F1-SW3']);
  t.strictSame(r.restoredUpstream, { sections: [], customers: [] });
  t.strictSame(r.restoredByTransfer, []);
  t.strictSame(r.stillOut, { sections: ALL_F1, customers: [...S1, ...S2, ...S3, ...S4, ...S5] });
  t.equal(r.completedAt, iso(22 * S + 100));
  t.end();
});

t.test('recloser, temporary fault: cleared on the first reclose, confirmed after the reclaim time', (t) => {
  const h = new Harness();
  h.flags(0, 'F1-R1').open(0, 'F1-R1').close(500, 'F1-R1');
  h.tick(5 * S + 499);
  t.equal(h.completed().length, 0, 'a reclose onto a permanent fault would trip again within the confirmation time');
  h.tick(5 * S + 500);
  t.strictSame(h.onlyReport(t), {
    id: ID(0),
    siteId: 'test-site',
    feederId: 'F1',
    kind: 'recloser',
    state: 'completed',
    outcome: 'clearedOnReclose',
    faultSection: 'F1-S2',
    isolatingDevices: [],
    restoredUpstream: { sections: ['F1-S2', 'F1-S3', 'F1-S4', 'F1-S5'], customers: [...S2, ...S3, ...S4, ...S5] },
    restoredByTransfer: [],
    stillOut: { sections: [], customers: [] },
    steps: [
      step(0, 'faultFlag', 'F1-R1'),
      step(0, 'trip', 'F1-R1', [], ['F1-S2', 'F1-S3', 'F1-S4', 'F1-S5']),
      step(500, 'reclose', 'F1-R1', ['F1-S2', 'F1-S3', 'F1-S4', 'F1-S5'], [], 10),
    ],
    startedAt: iso(0),
    completedAt: iso(500),
    durationMs: 500,
    outageIds: [],
  });
  t.end();
});

t.test('recloser, temporary fault with restoreConfirmMs 0: completes on the reclose itself', (t) => {
  const h = new Harness({ restoreConfirmMs: 0 });
  h.flags(0, 'F1-R1').open(0, 'F1-R1').close(500, 'F1-R1');
  const r = h.onlyReport(t);
  t.equal(r.outcome, 'clearedOnReclose');
  t.equal(h.events.at(-1)!.atMs, T0 + 500);
  t.end();
});

t.test('recloser, permanent fault: three shots then lockout', (t) => {
  const h = new Harness();
  h.flags(0, 'F1-R1')
    .open(0, 'F1-R1')
    .close(500, 'F1-R1')
    .open(600, 'F1-R1')
    .close(15 * S + 600, 'F1-R1')
    .open(15 * S + 700, 'F1-R1')
    .close(35 * S + 700, 'F1-R1')
    .open(35 * S + 800, 'F1-R1')
    .lockout(35 * S + 800, 'F1-R1')
    .tick(65 * S + 800);
  const r = h.onlyReport(t);
  t.equal(r.kind, 'recloser');
  t.equal(r.outcome, 'failed');
  t.equal(r.faultSection, 'F1-S2');
  t.strictSame(r.isolatingDevices, ['F1-R1']);
  t.strictSame(r.restoredUpstream, { sections: [], customers: [] });
  t.strictSame(r.stillOut, { sections: ['F1-S2', 'F1-S3', 'F1-S4', 'F1-S5'], customers: [...S2, ...S3, ...S4, ...S5] });
  t.strictSame(
    r.steps.map((s) => s.action),
    ['faultFlag', 'trip', 'reclose', 'trip', 'reclose', 'trip', 'reclose', 'trip', 'lockout'],
  );
  t.equal(r.durationMs, 35 * S + 800);
  t.end();
});

t.test('distributed FA: switches around the fault open within the first dead time, breaker recloses once', (t) => {
  const h = new Harness();
  h.flags(0, 'F1-CB', 'F1-R1', 'F1-SW2')
    .open(0, 'F1-CB')
    .open(200, 'F1-SW2')
    .open(250, 'F1-SW3')
    .close(500, 'F1-CB')
    .close(700, 'TIE-1')
    .tick(30 * S + 700);
  t.strictSame(h.onlyReport(t), {
    id: ID(0),
    siteId: 'test-site',
    feederId: 'F1',
    kind: 'distributed',
    state: 'completed',
    outcome: 'restored',
    faultSection: 'F1-S3',
    isolatingDevices: ['F1-SW2', 'F1-SW3'],
    restoredUpstream: { sections: ['F1-S1', 'F1-S2', 'F1-S5'], customers: [...S1, ...S2, ...S5] },
    restoredByTransfer: [{ tie: 'TIE-1', fromFeeder: 'F2', sections: ['F1-S4'], customers: S4 }],
    stillOut: { sections: ['F1-S3'], customers: S3 },
    steps: [
      step(0, 'faultFlag', 'F1-CB'),
      step(0, 'faultFlag', 'F1-R1'),
      step(0, 'faultFlag', 'F1-SW2'),
      step(0, 'trip', 'F1-CB', [], ALL_F1),
      step(200, 'open', 'F1-SW2'),
      step(250, 'open', 'F1-SW3'),
      step(500, 'reclose', 'F1-CB', ['F1-S1', 'F1-S2', 'F1-S5'], [], 6),
      step(700, 'transfer', 'TIE-1', ['F1-S4'], [], 2),
    ],
    startedAt: iso(0),
    completedAt: iso(700),
    durationMs: 700,
    outageIds: [],
  });
  t.end();
});

t.test('distributed FA that never trips the breaker: the switch next to the fault opens, the tie back-feeds', (t) => {
  const h = new Harness();
  h.flags(0, 'F1-CB', 'F1-R1', 'F1-SW2').open(100, 'F1-SW2').open(150, 'F1-SW3').close(400, 'TIE-1').tick(30 * S + 400);
  const r = h.onlyReport(t);
  t.equal(r.kind, 'distributed');
  t.equal(r.outcome, 'restored');
  t.equal(r.faultSection, 'F1-S3');
  t.strictSame(r.isolatingDevices, ['F1-SW2', 'F1-SW3']);
  t.strictSame(r.restoredUpstream, { sections: [], customers: [] });
  t.strictSame(r.restoredByTransfer, [{ tie: 'TIE-1', fromFeeder: 'F2', sections: ['F1-S4'], customers: S4 }]);
  t.strictSame(r.stillOut, { sections: ['F1-S3'], customers: S3 });
  t.strictSame(r.steps.map((s) => [s.action, s.device]), [
    ['faultFlag', 'F1-CB'],
    ['faultFlag', 'F1-R1'],
    ['faultFlag', 'F1-SW2'],
    ['open', 'F1-SW2'],
    ['open', 'F1-SW3'],
    ['transfer', 'TIE-1'],
  ]);
  t.equal(r.startedAt, iso(0));
  t.equal(r.durationMs, 400);
  t.end();
});

t.test('a breaker opened without fault flags starts nothing; a flag right after the opening makes it a trip', (t) => {
  const h = new Harness();
  h.open(0, 'F1-CB').close(60 * S, 'F1-CB').tick(200 * S);
  t.strictSame(h.events, [], 'a manual open and close is no self-healing');
  h.open(300 * S, 'F1-CB').flags(300 * S + 200, 'F1-CB').close(301 * S, 'F1-CB').tick(306 * S);
  const r = h.onlyReport(t);
  t.equal(r.kind, 'recloser');
  t.equal(r.outcome, 'clearedOnReclose');
  t.equal(r.faultSection, 'F1-S1');
  t.equal(r.startedAt, iso(300 * S));
  t.strictSame(r.steps.map((s) => s.action), ['trip', 'faultFlag', 'reclose']);
  t.end();
});

t.test('latched fault flags reported on every poll start nothing new once a sequence accounted for them', (t) => {
  const h = new Harness();
  h.flags(0, 'F1-R1').open(0, 'F1-R1').close(500, 'F1-R1').tick(6 * S);
  t.equal(h.completed().length, 1);
  h.flags(7 * S, 'F1-R1').open(8 * S, 'F1-R1').close(9 * S, 'F1-R1').tick(60 * S);
  t.equal(h.completed().length, 1, 'a manual operation later with the old flag still up is no new sequence');
  t.end();
});

t.test('an in-progress sequence survives export and import (restart)', (t) => {
  const straight = centralizedStart(new Harness());
  straight.open(20 * S, 'F1-SW2').open(22 * S, 'F1-SW3').close(25 * S, 'F1-CB').close(30 * S, 'TIE-1').tick(60 * S);

  const before = centralizedStart(new Harness());
  before.open(20 * S, 'F1-SW2');
  const saved = JSON.parse(JSON.stringify(before.recognizer.exportState())) as unknown;
  const after = new Harness();
  // The engine restores positions itself; replay them into the new energization.
  after.energization.setSwitch('F1-CB', 'open');
  after.energization.setSwitch('F1-SW2', 'open');
  after.recognizer.importState(saved);
  t.strictSame(after.recognizer.activeFeeders, ['F1']);
  after.open(22 * S, 'F1-SW3').close(25 * S, 'F1-CB').close(30 * S, 'TIE-1').tick(60 * S);
  t.strictSame(after.onlyReport(t), straight.onlyReport(t));
  t.throws(() => after.recognizer.importState({ format: 2 }));
  after.recognizer.importState(null);
  t.strictSame(after.recognizer.activeFeeders, []);
  t.end();
});
