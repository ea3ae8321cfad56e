import t from 'tap';
import { ManualClock } from '../../gateway/clock.js';
import type { EngineContext, EngineExtension, ExtensionEvent } from '../../gateway/engine/engine-hooks.js';
import { Engine } from '../../gateway/engine/engine.js';
import type { EngineState } from '../../gateway/engine/engine-state.js';
import type { DomainEvent, Outage, SelfHealingReport } from '../../gateway/engine/events.js';
import type { Observation } from '../../gateway/engine/observation.js';
import { EventSequence } from '../../gateway/engine/sequence.js';
import { twoFeeders } from '../fixtures/two-feeders.js';

const T0 = Date.parse('2024-05-01T08:00:00.000Z');
const S = 1000;
const MIN = 60 * S;

const pos = (switchId: string, position: 'open' | 'closed', ts: number): Observation => ({ kind: 'switch.position', switchId, position, ts });
const volts = (customerId: string, v: number, ts: number): Observation => ({ kind: 'meter.voltage', customerId, volts: v, ts });

function outageOf(event: DomainEvent | undefined): Outage {
  if (!event || !('outage' in event)) throw new Error(`not an outage event: ${JSON.stringify(event)}`);
  return event.outage;
}

function newEngine(extensions: EngineExtension[] = [], firstSeq = 1): Engine {
  return new Engine(twoFeeders, { clock: new ManualClock(T0), sequence: new EventSequence('test-site', firstSeq), extensions });
}

t.test('export mid-outage, JSON round trip, import into a fresh engine, restore', (t) => {
  const engine = newEngine();
  const started = engine.apply([pos('F1-SW2', 'open', T0), volts('C221', 0, T0 + 10 * S)]);
  t.strictSame(started.map((e) => e.type), ['outage.started', 'outage.started']);
  const switchingId = outageOf(started[0]).id;
  const meterId = outageOf(started[1]).id;
  // Partial restoration before the restart: F1-S4 back-fed through TIE-1.
  engine.apply([pos('F1-SW3', 'open', T0 + MIN), pos('TIE-1', 'closed', T0 + MIN)]);
  const before = engine.activeOutages();

  const state = JSON.parse(JSON.stringify(engine.exportState())) as EngineState;
  t.equal(state.format, 1);
  t.strictSame(state.switchPositions, { 'F1-SW2': 'open', 'F1-SW3': 'open', 'TIE-1': 'closed' });
  const restarted = newEngine([], 99);
  restarted.importState(state);
  t.strictSame(restarted.activeOutages(), before, 'same active outages, every field');
  t.equal(restarted.isEnergized('F1-S3'), false);
  t.equal(restarted.isEnergized('F1-S4'), true);

  const back = restarted.apply([pos('F1-SW2', 'closed', T0 + 30 * MIN), volts('C221', 230, T0 + 40 * MIN)]);
  t.strictSame(back.map((e) => [e.type, outageOf(e).id]), [['outage.restored', switchingId], ['outage.restored', meterId]]);
  const switching = outageOf(back[0]);
  t.equal(switching.durationMs, 30 * MIN, 'duration from the original start');
  t.equal(switching.restorations.length, 2, 'the step before the restart is kept');
  // F1-S3: 4 customers x 30 min; F1-S4: 2 customers x 1 min.
  t.equal(switching.customerMinutes, 122);
  t.equal(outageOf(back[1]).durationMs, 40 * MIN - 10 * S);
  t.equal(back[0]!.seq, 99, 'the restarted engine continues with the sequence it is given');
  t.end();
});

t.test('pending holds, inferred fuses and planned outages survive the round trip', (t) => {
  const site = {
    ...twoFeeders,
    thresholds: { ...twoFeeders.thresholds, meterLossHoldMs: 30_000 },
    plannedOutages: [{ id: 'PW-1', devices: ['F2-SW2'], start: '2024-05-01T09:00:00.000Z', end: '2024-05-01T10:00:00.000Z' }],
  };
  const make = () => new Engine(site, { clock: new ManualClock(T0), sequence: new EventSequence('test-site') });
  const engine = make();
  t.strictSame(engine.apply([volts('C121', 0, T0), volts('C122', 0, T0)]), []);
  engine.registerPlannedOutage({ id: 'PW-2', devices: ['F1-SW3'], start: '2024-05-01T11:00:00.000Z', end: '2024-05-01T12:00:00.000Z' });
  const state = JSON.parse(JSON.stringify(engine.exportState())) as EngineState;
  const restarted = make();
  restarted.importState(state);
  t.equal(restarted.pendingMeterLosses, 2);
  t.strictSame(restarted.plannedOutages().map((p) => p.id), ['PW-1', 'PW-2']);
  const confirmed = restarted.tick(T0 + 31 * S);
  t.strictSame(confirmed.map((e) => e.type), ['outage.started', 'outage.updated']);
  t.equal(outageOf(confirmed[1]).cause, 'transformerOut');
  const planned = restarted.apply([pos('F1-SW3', 'open', Date.parse('2024-05-01T11:30:00.000Z'))]);
  t.equal(outageOf(planned[0]).plannedId, 'PW-2');
  t.equal(outageOf(planned[0]).kind, 'planned');
  t.end();
});

t.test('extensions: observed with the energization change, events sequenced, state exported', (t) => {
  const seen: Array<{ kind: string; change: { energized: readonly string[]; deenergized: readonly string[] } | null; energized: boolean }> = [];
  let imported: unknown = null;
  const report = (atMs: number): SelfHealingReport => ({
    id: `sh-${atMs}`,
    siteId: 'test-site',
    feederId: 'F1',
    kind: 'unknown',
    state: 'running',
    outcome: null,
    faultSection: null,
    isolatingDevices: [],
    restoredUpstream: { sections: [], customers: [] },
    restoredByTransfer: [],
    stillOut: { sections: [], customers: [] },
    steps: [],
    startedAt: new Date(atMs).toISOString(),
    completedAt: null,
    durationMs: null,
    outageIds: [],
  });
  const ext: EngineExtension = {
    observe(o: Observation, change, ctx: EngineContext): ExtensionEvent[] {
      seen.push({ kind: o.kind, change, energized: ctx.isEnergized('F1-S1') });
      return o.kind === 'switch.position' ? [{ type: 'selfHealing.progress', atMs: o.ts, report: report(o.ts) }] : [];
    },
    tick(nowMs: number): ExtensionEvent[] {
      return [{ type: 'selfHealing.completed', atMs: nowMs, report: report(nowMs) }];
    },
    exportState: () => ({ running: 1 }),
    importState: (s) => {
      imported = s;
    },
  };
  const engine = newEngine([ext]);
  const events = engine.apply([pos('F1-CB', 'open', T0), volts('C221', 230, T0)]);
  t.strictSame(events.map((e) => [e.seq, e.type]), [[1, 'outage.started'], [2, 'selfHealing.progress']]);
  t.strictSame(seen, [
    { kind: 'switch.position', change: { energized: [], deenergized: ['F1-S1', 'F1-S2', 'F1-S3', 'F1-S5', 'F1-S4'] }, energized: false },
    { kind: 'meter.voltage', change: null, energized: false },
  ]);
  t.strictSame(engine.tick(T0 + MIN).map((e) => [e.seq, e.type, e.ts]), [[3, 'selfHealing.completed', '2024-05-01T08:01:00.000Z']]);
  const state = JSON.parse(JSON.stringify(engine.exportState())) as EngineState;
  t.strictSame(state.selfHealing, [{ running: 1 }]);
  newEngine([ext]).importState(state);
  t.strictSame(imported, { running: 1 });
  t.end();
});
