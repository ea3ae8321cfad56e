/**
 * The self-healing recognizer hosted by the real engine (the `extensions` hook): events are sequenced with
 * the outage events, reports name the outages of the sequence, and a restart in the middle continues it.
 */
import t from 'tap';
import { ManualClock } from '../../gateway/clock.js';
import { Engine } from '../../gateway/engine/engine.js';
import type { DomainEvent, SelfHealingReport } from '../../gateway/engine/events.js';
import type { Observation, SwitchPosition } from '../../gateway/engine/observation.js';
import { SelfHealingRecognizer } from '../../gateway/engine/self-healing/recognizer.js';
import { EventSequence } from '../../gateway/engine/sequence.js';
import { twoFeeders } from '../fixtures/two-feeders.js';

const T0 = Date.parse('2024-05-01T08:00:00.000Z');
const S = 1000;

function newEngine(firstSeq = 1): Engine {
  return new Engine(twoFeeders, {
    clock: new ManualClock(T0),
    sequence: new EventSequence('test-site', firstSeq),
    extensions: [new SelfHealingRecognizer(twoFeeders)],
  });
}

const pos = (switchId: string, position: SwitchPosition, ts: number): Observation => ({ kind: 'switch.position', switchId, position, ts });
const flag = (switchId: string, ts: number): Observation => ({ kind: 'switch.faultFlag', switchId, fault: true, ts });
const lockout = (switchId: string, ts: number): Observation => ({ kind: 'switch.lockout', switchId, lockedOut: true, ts });

const trip: Observation[] = [flag('F1-CB', T0), flag('F1-R1', T0), flag('F1-SW2', T0), pos('F1-CB', 'open', T0), lockout('F1-CB', T0 + 100)];
const isolate: Observation[] = [pos('F1-SW2', 'open', T0 + 10 * S), pos('F1-SW3', 'open', T0 + 10 * S)];
const restore: Observation[] = [pos('F1-CB', 'closed', T0 + 20 * S), pos('TIE-1', 'closed', T0 + 30 * S)];

function completedReport(events: DomainEvent[]): SelfHealingReport {
  const done = events.filter((e) => e.type === 'selfHealing.completed');
  if (done.length !== 1 || done[0]!.type !== 'selfHealing.completed') throw new Error(`expected one completed report, got ${done.length}`);
  return done[0].report;
}

t.test('centralized FLISR through the engine', (t) => {
  const engine = newEngine();
  const events = [...engine.apply(trip), ...engine.apply(isolate), ...engine.apply(restore), ...engine.tick(T0 + 60 * S)];
  const seqs = events.map((e) => e.seq);
  t.strictSame(seqs, seqs.map((_, i) => i + 1), 'one gap-free sequence for outage and self-healing events');
  t.ok(events.some((e) => e.type === 'outage.started'));
  t.equal(events.filter((e) => e.type === 'selfHealing.progress').length, 4, 'two isolations, reclose, transfer');
  const report = completedReport(events);
  t.equal(events.at(-1)!.ts, new Date(T0 + 60 * S).toISOString(), 'published when the quiet time ran out');
  t.match(report, {
    kind: 'centralized',
    outcome: 'restored',
    faultSection: 'F1-S3',
    isolatingDevices: ['F1-SW2', 'F1-SW3'],
    restoredUpstream: { sections: ['F1-S1', 'F1-S2', 'F1-S5'], customers: ['C111', 'C112', 'C121', 'C122', 'C123', 'C151'] },
    restoredByTransfer: [{ tie: 'TIE-1', fromFeeder: 'F2', sections: ['F1-S4'], customers: ['C141', 'C142'] }],
    stillOut: { sections: ['F1-S3'], customers: ['C131', 'C132', 'C133', 'C134'] },
    durationMs: 30 * S,
  });
  const started = events.find((e) => e.type === 'outage.started');
  t.ok(started && started.type === 'outage.started' && report.outageIds.includes(started.outage.id), 'the report names the outage');
  t.end();
});

t.test('a restart in the middle of the sequence continues it', (t) => {
  const straight = newEngine();
  const expected = completedReport([...straight.apply(trip), ...straight.apply(isolate), ...straight.apply(restore), ...straight.tick(T0 + 60 * S)]);

  const before = newEngine();
  const early = [...before.apply(trip), ...before.apply(isolate)];
  const saved = JSON.parse(JSON.stringify(before.exportState())) as ReturnType<Engine['exportState']>;
  const after = newEngine(early.length + 1);
  after.importState(saved);
  const report = completedReport([...after.apply(restore), ...after.tick(T0 + 60 * S)]);
  t.strictSame(report, expected);
  t.end();
});
