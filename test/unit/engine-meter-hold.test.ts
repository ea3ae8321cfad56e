/**
 * The meter-loss hold ("stew") time: a meter that loses voltage is an outage only if its section is still
 * energized once the hold has run out, so a breaker trip that the meters see before the breaker is polled
 * gives one breaker outage, not a burst of single-customer outages.
 */
import t from 'tap';
import { ManualClock } from '../../gateway/clock.js';
import { Engine } from '../../gateway/engine/engine.js';
import type { DomainEvent, Outage } from '../../gateway/engine/events.js';
import type { Observation } from '../../gateway/engine/observation.js';
import { EventSequence } from '../../gateway/engine/sequence.js';
import { twoFeeders } from '../fixtures/two-feeders.js';

const T0 = Date.parse('2024-05-01T08:00:00.000Z');
const HOLD = 5000;

function engineWithHold(): Engine {
  const site = { ...twoFeeders, thresholds: { ...twoFeeders.thresholds, meterLossHoldMs: HOLD } };
  return new Engine(site, { clock: new ManualClock(T0), sequence: new EventSequence('test-site') });
}
const volts = (customerId: string, v: number, ts: number): Observation => ({ kind: 'meter.voltage', customerId, volts: v, ts });
const outages = (events: DomainEvent[]): Outage[] => events.flatMap((e) => ('outage' in e ? [e.outage] : []));

t.test('meters see the loss before the breaker is polled: one breaker outage, no meter outage', (t) => {
  const engine = engineWithHold();
  t.strictSame(engine.apply([volts('C121', 0, T0), volts('C122', 0, T0 + 100)]), [], 'loss waits for the hold');
  t.equal(engine.pendingMeterLosses, 2);
  const trip = engine.apply([{ kind: 'switch.position', switchId: 'F1-R1', position: 'open', ts: T0 + 400 }]);
  t.same(outages(trip).map((o) => [o.cause, o.causeDevice]), [['switchOpened', 'F1-R1']]);
  t.strictSame(engine.tick(T0 + HOLD + 1000), [], 'hold expired with the section dark: suppressed');
  t.equal(engine.pendingMeterLosses, 0);
  t.equal(engine.activeOutages().length, 1);
  t.end();
});

t.test('a loss that lasts past the hold with the section energized is an outage from when it was first seen', (t) => {
  const engine = engineWithHold();
  t.strictSame(engine.apply([volts('C221', 0, T0)]), []);
  t.strictSame(engine.tick(T0 + HOLD - 1), [], 'not yet');
  const events = engine.tick(T0 + HOLD);
  const [outage] = outages(events);
  t.equal(events.length, 1);
  t.equal(events[0]?.type, 'outage.started');
  t.equal(outage?.cause, 'meterVoltageLoss');
  t.same(outage?.customers, ['C221']);
  t.equal(outage?.startedAt, '2024-05-01T08:00:00.000Z', 'starts at the first loss reading, not at confirmation');
  t.end();
});

t.test('the next loss reading after the hold confirms it without a tick', (t) => {
  const engine = engineWithHold();
  engine.apply([volts('C231', 0, T0)]);
  const events = engine.apply([volts('C231', 0, T0 + HOLD + 10)]);
  t.same(outages(events).map((o) => o.customers), [['C231']]);
  t.end();
});

t.test('voltage back within the hold: nothing happened', (t) => {
  const engine = engineWithHold();
  engine.apply([volts('C231', 0, T0)]);
  t.strictSame(engine.apply([volts('C231', 229, T0 + 1000)]), []);
  t.strictSame(engine.tick(T0 + 2 * HOLD), []);
  t.equal(engine.activeOutages().length, 0);
  t.end();
});

t.test('a loss held across a momentary trip (opened and reclosed within the hold) is not a meter outage', (t) => {
  const engine = engineWithHold();
  t.strictSame(engine.apply([volts('C141', 0, T0)]), []);
  const trip = engine.apply([{ kind: 'switch.position', switchId: 'F1-CB', position: 'open', ts: T0 + 1000 }]);
  t.same(outages(trip).map((o) => o.causeDevice), ['F1-CB']);
  const reclose = engine.apply([{ kind: 'switch.position', switchId: 'F1-CB', position: 'closed', ts: T0 + 2000 }]);
  t.same(reclose.map((e) => e.type), ['outage.restored']);
  t.strictSame(engine.tick(T0 + HOLD + 1000), [], 'the held loss belonged to the trip');
  t.equal(engine.activeOutages().length, 0);
  // A loss reported after the reclose starts a new hold, and only that one can become an outage.
  t.strictSame(engine.apply([volts('C141', 0, T0 + 3000)]), []);
  const late = engine.tick(T0 + 3000 + HOLD);
  t.same(outages(late).map((o) => [o.cause, o.customers, o.startedAt]), [['meterVoltageLoss', ['C141'], '2024-05-01T08:00:03.000Z']]);
  t.end();
});

t.test('observation times beyond what a Date can hold are ignored, not thrown mid-batch', (t) => {
  const engine = engineWithHold();
  const events = engine.apply([
    { kind: 'switch.position', switchId: 'F1-CB', position: 'open', ts: T0 },
    { kind: 'switch.position', switchId: 'F2-CB', position: 'open', ts: 1e16 },
  ]);
  t.same(events.map((e) => e.seq), [1], 'the good observation still gives its event');
  t.equal(engine.ignoredObservations, 1);
  t.ok(engine.isEnergized('F2-S1'), 'the bad observation changed nothing');
  t.end();
});

t.test('stateVersion moves only when energization or a reported position changes', (t) => {
  const engine = engineWithHold();
  const v0 = engine.stateVersion;
  engine.apply([{ kind: 'switch.position', switchId: 'F1-CB', position: 'closed', ts: T0 }]);
  t.equal(engine.stateVersion, v0, 'same position again: no change');
  engine.apply([volts('C111', 230, T0)]);
  t.equal(engine.stateVersion, v0, 'meter readings: no change');
  engine.apply([{ kind: 'switch.position', switchId: 'F1-CB', position: 'open', ts: T0 + 1 }]);
  t.ok(engine.stateVersion > v0, 'a trip: changed');
  t.end();
});
