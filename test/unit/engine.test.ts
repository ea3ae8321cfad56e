import t from 'tap';
import { ManualClock } from '../../gateway/clock.js';
import { Engine } from '../../gateway/engine/engine.js';
import type { DomainEvent, Outage } from '../../gateway/engine/events.js';
import type { Observation, SwitchPosition } from '../../gateway/engine/observation.js';
import { EventSequence } from '../../gateway/engine/sequence.js';
import { twoFeeders } from '../fixtures/two-feeders.js';

const T0 = Date.parse('2024-05-01T08:00:00.000Z');
const S = 1000;
const MIN = 60 * S;

function newEngine(firstSeq = 1): Engine {
  return new Engine(twoFeeders, { clock: new ManualClock(T0), sequence: new EventSequence('test-site', firstSeq) });
}

const pos = (switchId: string, position: SwitchPosition, ts: number): Observation => ({ kind: 'switch.position', switchId, position, ts });
const flag = (switchId: string, fault: boolean, ts: number): Observation => ({ kind: 'switch.faultFlag', switchId, fault, ts });
const volts = (customerId: string, v: number, ts: number): Observation => ({ kind: 'meter.voltage', customerId, volts: v, ts });
const reachable = (customerId: string, r: boolean, ts: number): Observation => ({ kind: 'meter.reachable', customerId, reachable: r, ts });

function outageOf(event: DomainEvent | undefined): Outage {
  if (!event || !('outage' in event)) throw new Error(`not an outage event: ${JSON.stringify(event)}`);
  return event.outage;
}

const F1_CUSTOMERS = ['C111', 'C112', 'C121', 'C122', 'C123', 'C131', 'C132', 'C133', 'C134', 'C141', 'C142', 'C151'];

/** Breaker trip on a fault in F1-S3, isolation, upstream reclose, transfer through TIE-1, repair. */
function selfHealingScenario(): Observation[][] {
  return [
    [flag('F1-CB', true, T0), flag('F1-R1', true, T0), flag('F1-SW2', true, T0), pos('F1-CB', 'open', T0)],
    [pos('F1-SW2', 'open', T0 + 10 * S), pos('F1-SW3', 'open', T0 + 10 * S)],
    [pos('F1-CB', 'closed', T0 + 20 * S)],
    [pos('TIE-1', 'closed', T0 + 30 * S)],
    [pos('F1-SW2', 'closed', T0 + 45 * MIN)],
    [pos('F1-SW3', 'closed', T0 + 46 * MIN), pos('TIE-1', 'open', T0 + 46 * MIN)],
    [flag('F1-CB', false, T0 + 47 * MIN), flag('F1-R1', false, T0 + 47 * MIN), flag('F1-SW2', false, T0 + 47 * MIN)],
  ];
}

t.test('breaker trip, partial restorations, final close', (t) => {
  const engine = newEngine();
  const batches = selfHealingScenario();

  const trip = engine.apply(batches[0]!);
  t.equal(trip.length, 1);
  t.strictSame(trip[0], {
    id: 'test-site:1',
    seq: 1,
    siteId: 'test-site',
    ts: '2024-05-01T08:00:00.000Z',
    type: 'outage.started',
    outage: {
      id: 'test-site-20240501T080000000-F1-CB',
      siteId: 'test-site',
      state: 'active',
      kind: 'unplanned',
      cause: 'protectionTrip',
      confidence: 'measured',
      evidence: [
        { at: '2024-05-01T08:00:00.000Z', kind: 'switchOpen', subject: 'F1-CB' },
        { at: '2024-05-01T08:00:00.000Z', kind: 'faultFlag', subject: 'F1-CB' },
        { at: '2024-05-01T08:00:00.000Z', kind: 'faultFlag', subject: 'F1-R1' },
        { at: '2024-05-01T08:00:00.000Z', kind: 'faultFlag', subject: 'F1-SW2' },
      ],
      parentId: null,
      mergedInto: null,
      plannedId: null,
      causeDevice: 'F1-CB',
      faultSection: 'F1-S3',
      startedAt: '2024-05-01T08:00:00.000Z',
      restoredAt: null,
      durationMs: null,
      feederIds: ['F1'],
      sections: ['F1-S1', 'F1-S2', 'F1-S3', 'F1-S4', 'F1-S5'],
      transformers: ['T11', 'T12', 'T13A', 'T13B', 'T14', 'T15'],
      customers: ['C111', 'C112', 'C121', 'C122', 'C123', 'C131', 'C132', 'C133', 'C134', 'C141', 'C142', 'C151'],
      customerCount: 12,
      currentSections: ['F1-S1', 'F1-S2', 'F1-S3', 'F1-S4', 'F1-S5'],
      currentCustomerCount: 12,
      restorations: [],
      customerMinutes: null,
    },
  });
  t.equal(engine.activeOutages().length, 1);
  t.notOk(engine.isEnergized('F1-S1'));

  t.strictSame(engine.apply(batches[1]!), [], 'isolating inside the dark region changes no outage');

  const reclose = engine.apply(batches[2]!);
  t.equal(reclose.length, 1);
  t.equal(reclose[0]!.type, 'outage.updated');
  t.equal(reclose[0]!.seq, 2);
  const afterReclose = outageOf(reclose[0]);
  t.strictSame(afterReclose.restorations, [
    {
      at: '2024-05-01T08:00:20.000Z',
      sections: ['F1-S1', 'F1-S2', 'F1-S5'],
      transformers: ['T11', 'T12', 'T15'],
      customers: ['C111', 'C112', 'C121', 'C122', 'C123', 'C151'],
    },
  ]);
  t.strictSame(afterReclose.currentSections, ['F1-S3', 'F1-S4']);
  t.equal(afterReclose.currentCustomerCount, 6);
  t.strictSame(afterReclose.customers, F1_CUSTOMERS, 'customers stays everything ever affected');
  t.equal(afterReclose.customerCount, 12);

  const transfer = engine.apply(batches[3]!);
  t.equal(transfer.length, 1);
  t.equal(transfer[0]!.type, 'outage.updated');
  const afterTransfer = outageOf(transfer[0]);
  t.strictSame(afterTransfer.restorations[1], {
    at: '2024-05-01T08:00:30.000Z',
    sections: ['F1-S4'],
    transformers: ['T14'],
    customers: ['C141', 'C142'],
  });
  t.strictSame(afterTransfer.currentSections, ['F1-S3']);
  t.equal(afterTransfer.currentCustomerCount, 4);
  t.ok(engine.isEnergized('F1-S4'), 'back-fed from F2');

  const repair = engine.apply(batches[4]!);
  t.equal(repair.length, 1);
  t.equal(repair[0]!.type, 'outage.restored');
  t.equal(repair[0]!.ts, '2024-05-01T08:45:00.000Z');
  const restored = outageOf(repair[0]);
  t.equal(restored.state, 'restored');
  t.equal(restored.restoredAt, '2024-05-01T08:45:00.000Z');
  t.equal(restored.durationMs, 2_700_000);
  t.strictSame(restored.restorations[2], {
    at: '2024-05-01T08:45:00.000Z',
    sections: ['F1-S3'],
    transformers: ['T13A', 'T13B'],
    customers: ['C131', 'C132', 'C133', 'C134'],
  });
  // 6 customers x 20 s + 2 customers x 30 s + 4 customers x 45 min = 2 + 1 + 180 minutes
  t.equal(restored.customerMinutes, 183);
  t.strictSame(restored.currentSections, []);
  t.equal(restored.currentCustomerCount, 0);
  t.strictSame(engine.activeOutages(), []);

  t.strictSame(engine.apply(batches[5]!), [], 'back to normal through a loop: no change of supply');
  t.strictSame(engine.apply(batches[6]!), [], 'flags resetting');
  t.end();
});

t.test('same inputs twice give the same events', (t) => {
  const run = (): DomainEvent[] => {
    const engine = newEngine();
    const events: DomainEvent[] = [];
    for (const batch of selfHealingScenario()) events.push(...engine.apply(batch));
    events.push(...engine.apply([volts('C221', 0, T0 + 50 * MIN), volts('C221', 230, T0 + 55 * MIN)]));
    return events;
  };
  const first = run();
  const second = run();
  t.equal(first.length, 6);
  t.strictSame(first, second);
  t.strictSame(
    first.map((e) => e.seq),
    [1, 2, 3, 4, 5, 6],
    'sequence numbers are gap-free',
  );
  t.strictSame(
    first.map((e) => e.id),
    ['test-site:1', 'test-site:2', 'test-site:3', 'test-site:4', 'test-site:5', 'test-site:6'],
  );
  t.strictSame(
    first.map((e) => outageOf(e).id),
    [
      'test-site-20240501T080000000-F1-CB',
      'test-site-20240501T080000000-F1-CB',
      'test-site-20240501T080000000-F1-CB',
      'test-site-20240501T080000000-F1-CB',
      'test-site-20240501T085000000-C221',
      'test-site-20240501T085000000-C221',
    ],
  );
  t.end();
});

t.test('the sequence continues from where it is told to start', (t) => {
  const engine = newEngine(41);
  const events = engine.apply([pos('F1-FU1', 'open', T0), pos('F1-FU1', 'closed', T0 + S)]);
  t.strictSame(events.map((e) => [e.seq, e.id, e.type]), [
    [41, 'test-site:41', 'outage.started'],
    [42, 'test-site:42', 'outage.restored'],
  ]);
  t.end();
});

t.test('fuse open: a switchOpened outage of the lateral only', (t) => {
  const engine = newEngine();
  const [started] = engine.apply([pos('F1-FU1', 'open', T0)]);
  const outage = outageOf(started);
  t.equal(outage.cause, 'switchOpened');
  t.equal(outage.causeDevice, 'F1-FU1');
  t.equal(outage.faultSection, null);
  t.strictSame(outage.sections, ['F1-S5']);
  t.strictSame(outage.transformers, ['T15']);
  t.strictSame(outage.customers, ['C151']);
  t.end();
});

t.test('a breaker opening without fault flags is switchOpened; a late flag upgrades it', (t) => {
  const engine = newEngine();
  const [started] = engine.apply([pos('F2-CB', 'open', T0)]);
  t.equal(outageOf(started).cause, 'switchOpened');
  t.equal(outageOf(started).faultSection, null);
  t.strictSame(outageOf(started).customers, ['C211', 'C212', 'C221', 'C231', 'C232']);
  const late = engine.apply([flag('F2-SW1', true, T0 + 500)]);
  t.equal(late.length, 1);
  t.equal(late[0]!.type, 'outage.updated');
  t.equal(late[0]!.ts, '2024-05-01T08:00:00.500Z');
  t.equal(outageOf(late[0]).cause, 'protectionTrip');
  t.equal(outageOf(late[0]).faultSection, 'F2-S2', 'load side of the farthest flagged device');
  t.strictSame(engine.apply([flag('F2-SW1', true, T0 + 600)]), [], 'a flag already up adds nothing');
  t.strictSame(engine.apply([flag('F1-R1', true, T0 + 700)]), [], 'a flag on another feeder is no evidence');
  t.end();
});

t.test('a recloser opening with its upstream breaker flagged is a protection trip', (t) => {
  const engine = newEngine();
  const [started] = engine.apply([flag('F1-CB', true, T0), pos('F1-R1', 'open', T0)]);
  const outage = outageOf(started);
  t.equal(outage.cause, 'protectionTrip');
  t.equal(outage.causeDevice, 'F1-R1');
  t.equal(outage.faultSection, null, 'the only flag is upstream of the dark region: location unknown');
  t.strictSame(outage.sections, ['F1-S2', 'F1-S3', 'F1-S4', 'F1-S5']);
  t.end();
});

t.test('reclose onto the fault: the re-darkened sections rejoin the same outage', (t) => {
  const engine = newEngine();
  const started = engine.apply([flag('F1-R1', true, T0), pos('F1-R1', 'open', T0), pos('F1-SW2', 'open', T0 + 5 * S)]);
  t.strictSame(started.map((e) => e.type), ['outage.started']);
  const outage = outageOf(started[0]);
  t.equal(outage.faultSection, 'F1-S2');
  t.strictSame(outage.customers, ['C121', 'C122', 'C123', 'C131', 'C132', 'C133', 'C134', 'C141', 'C142', 'C151']);

  const reclose = engine.apply([pos('F1-R1', 'closed', T0 + 30 * S)]);
  t.strictSame(reclose.map((e) => e.type), ['outage.updated']);
  t.strictSame(outageOf(reclose[0]).currentSections, ['F1-S3', 'F1-S4']);

  const retrip = engine.apply([pos('F1-R1', 'open', T0 + 42 * S)]);
  t.strictSame(retrip.map((e) => e.type), ['outage.updated'], 'no second outage');
  t.equal(outageOf(retrip[0]).id, outage.id);
  t.strictSame(outageOf(retrip[0]).currentSections, ['F1-S2', 'F1-S3', 'F1-S4', 'F1-S5']);
  t.equal(outageOf(retrip[0]).currentCustomerCount, 10);
  t.equal(engine.activeOutages().length, 1);

  const end = engine.apply([pos('F1-R1', 'closed', T0 + 120 * S), pos('F1-SW2', 'closed', T0 + 120 * S)]);
  t.strictSame(end.map((e) => e.type), ['outage.updated', 'outage.restored']);
  const restored = outageOf(end[1]);
  t.equal(restored.durationMs, 120_000);
  t.strictSame(restored.restorations.map((s) => s.sections), [['F1-S2', 'F1-S5'], ['F1-S2', 'F1-S5'], ['F1-S3', 'F1-S4']]);
  // F1-S2 (3) and F1-S5 (1) out 0-30 s and 42-120 s = 108 s; F1-S3 (4) and F1-S4 (2) out 120 s.
  // 4 x 108 + 6 x 120 = 432 + 720 = 1152 customer-seconds = 19.2 customer-minutes
  t.equal(restored.customerMinutes, 19.2);
  t.end();
});

t.test('when the feeder back-feeding part of an outage trips, the back-fed sections go into its new outage', (t) => {
  const engine = newEngine();
  const first = engine.apply([pos('F1-CB', 'open', T0), pos('F1-R1', 'open', T0 + 10 * S), pos('TIE-1', 'closed', T0 + 20 * S)]);
  t.strictSame(first.map((e) => e.type), ['outage.started', 'outage.updated']);
  t.strictSame(outageOf(first[1]).currentSections, ['F1-S1']);

  const f2trip = engine.apply([pos('F2-CB', 'open', T0 + 30 * S)]);
  t.strictSame(f2trip.map((e) => e.type), ['outage.started'], 'the F1 outage is not touched');
  const f2outage = outageOf(f2trip[0]);
  t.equal(f2outage.id, 'test-site-20240501T080030000-F2-CB');
  t.equal(f2outage.causeDevice, 'F2-CB');
  t.strictSame(f2outage.feederIds, ['F1', 'F2']);
  t.strictSame(f2outage.sections, ['F1-S2', 'F1-S3', 'F1-S4', 'F1-S5', 'F2-S1', 'F2-S2', 'F2-S3']);
  t.strictSame(f2outage.customers, [
    'C121', 'C122', 'C123', 'C131', 'C132', 'C133', 'C134', 'C141', 'C142', 'C151',
    'C211', 'C212', 'C221', 'C231', 'C232',
  ]);
  const active = engine.activeOutages();
  t.strictSame(active.map((o) => o.id), ['test-site-20240501T080000000-F1-CB', 'test-site-20240501T080030000-F2-CB']);
  t.strictSame(active[0]!.currentSections, ['F1-S1']);

  const f2back = engine.apply([pos('F2-CB', 'closed', T0 + 40 * S)]);
  t.strictSame(f2back.map((e) => [e.type, outageOf(e).id]), [['outage.restored', 'test-site-20240501T080030000-F2-CB']]);
  // 15 customers x 10 s = 2.5 customer-minutes
  t.equal(outageOf(f2back[0]).customerMinutes, 2.5);

  const f1back = engine.apply([pos('F1-CB', 'closed', T0 + 50 * S)]);
  t.strictSame(f1back.map((e) => [e.type, outageOf(e).id]), [['outage.restored', 'test-site-20240501T080000000-F1-CB']]);
  t.end();
});

t.test('a dark region split and merged by switching changes no outage', (t) => {
  const engine = newEngine();
  engine.apply([pos('F1-FU1', 'open', T0), pos('F1-CB', 'open', T0 + S)]);
  t.strictSame(engine.activeOutages().map((o) => [o.causeDevice, o.currentSections]), [
    ['F1-FU1', ['F1-S5']],
    ['F1-CB', ['F1-S1', 'F1-S2', 'F1-S3', 'F1-S4']],
  ]);
  t.strictSame(engine.apply([pos('F1-FU1', 'closed', T0 + 2 * S)]), [], 'merging two dark regions');
  t.strictSame(engine.apply([pos('F1-SW2', 'open', T0 + 3 * S)]), [], 'splitting a dark region');
  const back = engine.apply([pos('F1-CB', 'closed', T0 + 4 * S)]);
  t.strictSame(back.map((e) => [e.type, outageOf(e).causeDevice, outageOf(e).restorations.at(-1)?.sections]), [
    ['outage.restored', 'F1-FU1', ['F1-S5']],
    ['outage.updated', 'F1-CB', ['F1-S1', 'F1-S2']],
  ]);
  t.end();
});

t.test('outage ids stay unique within one millisecond', (t) => {
  const engine = newEngine();
  const events = engine.apply([
    pos('F1-FU1', 'open', T0),
    pos('F1-FU1', 'closed', T0),
    pos('F1-FU1', 'open', T0),
    pos('F2-CB', 'open', T0),
  ]);
  t.strictSame(events.map((e) => [e.type, outageOf(e).id]), [
    ['outage.started', 'test-site-20240501T080000000-F1-FU1'],
    ['outage.restored', 'test-site-20240501T080000000-F1-FU1'],
    ['outage.started', 'test-site-20240501T080000000-F1-FU1-2'],
    ['outage.started', 'test-site-20240501T080000000-F2-CB'],
  ]);
  t.end();
});

t.test('intermediate and invalid positions raise nothing and show as unknown', (t) => {
  const engine = newEngine();
  t.strictSame(engine.apply([pos('F1-CB', 'intermediate', T0)]), []);
  t.ok(engine.isEnergized('F1-S1'));
  t.equal(engine.feederStates(T0)[0]!.switches['F1-CB'], 'unknown');
  t.strictSame(engine.apply([pos('F1-CB', 'invalid', T0 + S)]), []);
  t.strictSame(engine.apply([pos('F1-CB', 'closed', T0 + 2 * S)]), [], 'the known position did not change');
  t.equal(engine.feederStates(T0)[0]!.switches['F1-CB'], 'closed');
  t.strictSame(engine.activeOutages(), []);
  t.end();
});

t.test('repeated identical positions raise nothing', (t) => {
  const engine = newEngine();
  t.strictSame(engine.apply([pos('F1-CB', 'closed', T0)]), [], 'already closed');
  const events = engine.apply([pos('F1-CB', 'open', T0), pos('F1-CB', 'open', T0 + S), pos('F1-CB', 'open', T0 + 2 * S)]);
  t.strictSame(events.map((e) => e.type), ['outage.started']);
  t.end();
});

t.test('unknown ids and bad numbers are counted and ignored', (t) => {
  const engine = newEngine();
  const events = engine.apply([
    pos('NOPE', 'open', T0),
    flag('NOPE', true, T0),
    volts('C999', 0, T0),
    reachable('C999', false, T0),
    pos('F1-CB', 'open', Number.NaN),
    volts('C121', Number.NaN, T0),
  ]);
  t.strictSame(events, []);
  t.equal(engine.ignoredObservations, 6);
  t.ok(engine.isEnergized('F1-S1'));
  t.end();
});

t.test('meter voltage loss of one customer', (t) => {
  const engine = newEngine();
  const events = engine.apply([volts('C121', 230, T0), volts('C122', 229, T0), volts('C123', 0, T0)]);
  t.equal(events.length, 1);
  t.strictSame(events[0], {
    id: 'test-site:1',
    seq: 1,
    siteId: 'test-site',
    ts: '2024-05-01T08:00:00.000Z',
    type: 'outage.started',
    outage: {
      id: 'test-site-20240501T080000000-C123',
      siteId: 'test-site',
      state: 'active',
      kind: 'unplanned',
      cause: 'meterVoltageLoss',
      confidence: 'measured',
      evidence: [{ at: '2024-05-01T08:00:00.000Z', kind: 'meterVoltageLoss', subject: 'C123' }],
      parentId: null,
      mergedInto: null,
      plannedId: null,
      causeDevice: null,
      faultSection: null,
      startedAt: '2024-05-01T08:00:00.000Z',
      restoredAt: null,
      durationMs: null,
      feederIds: ['F1'],
      sections: [],
      transformers: [],
      customers: ['C123'],
      customerCount: 1,
      currentSections: [],
      currentCustomerCount: 1,
      restorations: [],
      customerMinutes: null,
    },
  });
  t.strictSame(engine.apply([volts('C123', 12, T0 + 30 * S)]), [], 'still out: nothing new');
  const back = engine.apply([volts('C123', 231, T0 + 90 * S)]);
  t.equal(back.length, 1);
  t.equal(back[0]!.type, 'outage.restored');
  const outage = outageOf(back[0]);
  t.equal(outage.durationMs, 90_000);
  t.equal(outage.customerMinutes, 1.5);
  t.strictSame(outage.restorations, [{ at: '2024-05-01T08:01:30.000Z', sections: [], transformers: [], customers: ['C123'] }]);
  t.end();
});

t.test('meter voltage loss of a whole transformer grows the outage', (t) => {
  const engine = newEngine();
  const events = engine.apply([volts('C121', 0, T0), volts('C122', 0, T0), volts('C123', 3, T0)]);
  t.strictSame(events.map((e) => e.type), ['outage.started', 'outage.updated'], 'one outage, grown');
  t.strictSame(outageOf(events[0]).customers, ['C121']);
  const grown = outageOf(events[1]);
  t.equal(grown.id, 'test-site-20240501T080000000-C121');
  t.strictSame(grown.transformers, ['T12']);
  t.strictSame(grown.sections, []);
  t.strictSame(grown.customers, ['C121', 'C122', 'C123']);
  t.equal(grown.currentCustomerCount, 3);
  t.equal(engine.activeOutages().length, 1);

  const back = engine.apply([volts('C121', 230, T0 + 2 * MIN), volts('C122', 230, T0 + 2 * MIN), volts('C123', 230, T0 + 2 * MIN)]);
  t.strictSame(back.map((e) => e.type), ['outage.updated', 'outage.updated', 'outage.restored']);
  t.strictSame(outageOf(back[0]).restorations[0], { at: '2024-05-01T08:02:00.000Z', sections: [], transformers: ['T12'], customers: ['C121'] });
  const restored = outageOf(back[2]);
  t.strictSame(restored.transformers, ['T12']);
  t.equal(restored.customerMinutes, 6, '3 customers x 2 minutes');
  t.end();
});

t.test('a transformer outage brings its unmetered customers back with the first good reading', (t) => {
  const engine = newEngine();
  const events = engine.apply([volts('C121', 0, T0), volts('C122', 0, T0)]);
  t.strictSame(outageOf(events[1]).customers, ['C121', 'C122', 'C123'], 'C123 has no meter reading but is on T12');
  const first = engine.apply([volts('C121', 230, T0 + MIN)]);
  t.strictSame(outageOf(first[0]).restorations[0]!.customers, ['C121', 'C123']);
  t.equal(outageOf(first[0]).currentCustomerCount, 1);
  const last = engine.apply([volts('C122', 230, T0 + 2 * MIN)]);
  t.equal(last[0]!.type, 'outage.restored');
  t.equal(outageOf(last[0]).customerMinutes, 4, 'C121 and C123 one minute each, C122 two');
  t.end();
});

t.test('a single-customer transformer is a transformer outage at once', (t) => {
  const engine = newEngine();
  const [started] = engine.apply([volts('C151', 0, T0)]);
  t.strictSame(outageOf(started).transformers, ['T15']);
  t.strictSame(outageOf(started).customers, ['C151']);
  t.end();
});

t.test('meter voltage loss inside a dark section is suppressed', (t) => {
  const engine = newEngine();
  const started = engine.apply([pos('F1-CB', 'open', T0)]);
  t.equal(started.length, 1);
  const meters = engine.apply([volts('C121', 0, T0 + 5 * S), volts('C122', 0, T0 + 5 * S), volts('C123', 0, T0 + 5 * S), volts('C151', 0, T0 + 5 * S)]);
  t.strictSame(meters, []);
  t.equal(engine.activeOutages().length, 1);
  const back = engine.apply([pos('F1-CB', 'closed', T0 + MIN)]);
  t.strictSame(back.map((e) => e.type), ['outage.restored']);
  t.strictSame(engine.apply([volts('C121', 230, T0 + MIN + S)]), []);
  // Loss readings from before the re-energization are forgotten, so this is one customer, not T12.
  const single = engine.apply([volts('C122', 0, T0 + MIN + 2 * S)]);
  t.equal(single.length, 1);
  t.strictSame(outageOf(single[0]).customers, ['C122']);
  t.strictSame(outageOf(single[0]).transformers, []);
  t.end();
});

t.test('a meter outage nested in a switching outage stays open until its meter is back', (t) => {
  const engine = newEngine();
  const [meterStarted] = engine.apply([volts('C151', 0, T0)]);
  const meterOutageId = outageOf(meterStarted).id;
  const fuse = engine.apply([pos('F1-FU1', 'open', T0 + MIN)]);
  t.strictSame(fuse.map((e) => e.type), ['outage.started', 'outage.updated']);
  t.strictSame(outageOf(fuse[0]).customers, ['C151']);
  // The meter outage started a minute before (longer than the hold, 0 here): nested, not swallowed.
  t.equal(outageOf(fuse[1]).id, meterOutageId);
  t.equal(outageOf(fuse[1]).parentId, outageOf(fuse[0]).id);
  t.equal(outageOf(fuse[1]).state, 'active');
  t.strictSame(engine.apply([volts('C151', 0, T0 + MIN + 10 * S)]), []);
  const fuseBack = engine.apply([pos('F1-FU1', 'closed', T0 + 2 * MIN)]);
  t.strictSame(fuseBack.map((e) => e.type), ['outage.restored']);
  t.strictSame(engine.activeOutages().map((o) => o.id), [meterOutageId]);
  t.strictSame(engine.apply([volts('C151', 0, T0 + 2 * MIN + 10 * S)]), [], 'still out: same outage');
  const meterBack = engine.apply([volts('C151', 230, T0 + 3 * MIN)]);
  t.strictSame(meterBack.map((e) => [e.type, outageOf(e).id]), [['outage.restored', meterOutageId]]);
  t.equal(outageOf(meterBack[0]).durationMs, 180_000);
  t.equal(outageOf(meterBack[0]).customerMinutes, 3);
  t.end();
});

t.test('one unreachable meter under a live transformer is never an outage', (t) => {
  const engine = newEngine();
  // T12's three meters answer, then one goes silent: 1 of 3 is below the 0.6 share.
  const events = engine.apply([volts('C121', 230, T0), volts('C122', 230, T0), volts('C123', 230, T0), reachable('C121', false, T0 + S)]);
  t.strictSame(events, []);
  t.strictSame(engine.activeOutages(), []);
  t.equal(engine.ignoredObservations, 0);
  // A single-customer transformer's silent meter is one meter: never an outage either.
  t.strictSame(engine.apply([reachable('C151', false, T0 + S)]), []);
  t.end();
});

t.test('all meters of a transformer silent: transformer out, inferred', (t) => {
  const engine = newEngine();
  const events = engine.apply([reachable('C121', false, T0), reachable('C122', false, T0), reachable('C123', false, T0)]);
  t.strictSame(events.map((e) => e.type), ['outage.started']);
  const outage = outageOf(events[0]);
  t.equal(outage.cause, 'transformerOut');
  t.equal(outage.confidence, 'inferred');
  t.strictSame(outage.customers, ['C121', 'C122', 'C123']);
  t.strictSame(outage.evidence.map((e) => [e.kind, e.subject]), [['meterSilent', 'C121'], ['meterSilent', 'C122']]);
  // C123 went silent after the decision: counted (no new event), and the first answer brings T12 back.
  const back = engine.apply([reachable('C122', true, T0 + MIN)]);
  t.strictSame(back.map((e) => e.type), ['outage.restored']);
  t.equal(outageOf(back[0]).kind, 'momentary');
  t.end();
});

t.test('feeder states', (t) => {
  const engine = newEngine();
  engine.apply([pos('F1-CB', 'open', T0), volts('C221', 0, T0)]);
  t.strictSame(engine.feederStates(T0 + S), [
    {
      feederId: 'F1',
      ts: '2024-05-01T08:00:01.000Z',
      energizedSections: [],
      deenergizedSections: ['F1-S1', 'F1-S2', 'F1-S3', 'F1-S4', 'F1-S5'],
      switches: { 'F1-CB': 'open', 'F1-FU1': 'closed', 'F1-R1': 'closed', 'F1-SW2': 'closed', 'F1-SW3': 'closed', 'TIE-1': 'open', 'TIE-2': 'open' },
      customersOut: 12,
    },
    {
      feederId: 'F2',
      ts: '2024-05-01T08:00:01.000Z',
      energizedSections: ['F2-S1', 'F2-S2', 'F2-S3'],
      deenergizedSections: [],
      switches: { 'F2-CB': 'closed', 'F2-SW1': 'closed', 'F2-SW2': 'closed', 'TIE-1': 'open', 'TIE-2': 'open' },
      customersOut: 1,
    },
  ]);
  t.equal(engine.feederStates()[0]!.ts, '2024-05-01T08:00:00.000Z', 'defaults to the injected clock');
  t.end();
});
