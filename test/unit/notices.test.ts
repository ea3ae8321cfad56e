/**
 * Customer notices (docs/notices.md): planned outages announced at registration and refused inside the lead
 * time, fault / progress / restored notices from the real engine's events, batching of customer ids.
 * Customer ids are written out by hand from the two-feeders fixture (see its drawing).
 */
import t from 'tap';
import { ManualClock } from '../../gateway/clock.js';
import type { PlannedOutageConfig, SiteConfig } from '../../gateway/config/site-config.js';
import { Engine } from '../../gateway/engine/engine.js';
import type { DomainEvent, Outage } from '../../gateway/engine/events.js';
import type { Observation, SwitchPosition } from '../../gateway/engine/observation.js';
import { SelfHealingRecognizer } from '../../gateway/engine/self-healing/recognizer.js';
import { EventSequence } from '../../gateway/engine/sequence.js';
import { checkPlannedLeadTime, formatDuration, NoticeBuilder, NoticeRefused } from '../../gateway/notices/notice-builder.js';
import type { Notice } from '../../gateway/notices/notice-types.js';
import { twoFeeders } from '../fixtures/two-feeders.js';

const T0 = Date.parse('2024-05-01T08:00:00.000Z');
const S = 1000;
const MIN = 60 * S;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const iso = (ms: number): string => new Date(ms).toISOString();

const pos = (switchId: string, position: SwitchPosition, ts: number): Observation => ({ kind: 'switch.position', switchId, position, ts });
const flag = (switchId: string, ts: number): Observation => ({ kind: 'switch.faultFlag', switchId, fault: true, ts });
const lockout = (switchId: string, ts: number): Observation => ({ kind: 'switch.lockout', switchId, lockedOut: true, ts });

function engineFor(site: SiteConfig, selfHealing = false): Engine {
  return new Engine(site, {
    clock: new ManualClock(T0),
    sequence: new EventSequence(site.siteId, 1),
    extensions: selfHealing ? [new SelfHealingRecognizer(site)] : [],
  });
}

/** What a test usually checks of a notice. */
const brief = (n: Notice): Record<string, unknown> => ({
  type: n.type,
  kind: n.progress?.kind ?? null,
  customerIds: n.customerIds,
});

// The planned work: open F1-SW2. Below it in the normal configuration: F1-S3 (T13A, T13B) and F1-S4 (T14);
// TIE-1 is normally open, so F2 is not below it.
const BELOW_F1_SW2 = ['C131', 'C132', 'C133', 'C134', 'C141', 'C142'];

function plannedAt(startMs: number): PlannedOutageConfig {
  return { id: 'PL-1', devices: ['F1-SW2'], start: iso(startMs), end: iso(startMs + 4 * HOUR), reason: 'replace pole 12' };
}

t.test('a planned outage registered 8 days ahead: one planned notice to the customers below the device', (t) => {
  const clock = new ManualClock(T0);
  const builder = new NoticeBuilder(twoFeeders, { clock });
  const notices = builder.onPlannedRegistered(plannedAt(T0 + 8 * DAY), T0);
  t.equal(notices.length, 1);
  t.strictSame(notices[0], {
    noticeId: 'test-site:planned:PL-1:20240509T080000000-20240509T120000000',
    messageId: 'test-site:planned:PL-1:20240509T080000000-20240509T120000000:1of1',
    type: 'planned',
    siteId: 'test-site',
    outageId: null,
    plannedId: 'PL-1',
    area: { feeders: [{ id: 'F1', name: null }], transformers: ['T13A', 'T13B', 'T14'], areaClasses: ['town'] },
    cause: { code: 'planned', text: 'planned work: replace pole 12' },
    start: '2024-05-09T08:00:00.000Z',
    estimatedRestoration: '2024-05-09T12:00:00.000Z',
    actualRestoration: null,
    progress: null,
    partial: null,
    customerCount: 6,
    batchIndex: 0,
    batchCount: 1,
    customerIds: BELOW_F1_SW2,
    issuedAt: '2024-05-01T08:00:00.000Z',
  });
  t.strictSame(builder.onPlannedRegistered(plannedAt(T0 + 8 * DAY), T0), notices, 'registering again gives the same notice and id');
  t.end();
});

t.test('customers below several devices, ties and the breaker', (t) => {
  const builder = new NoticeBuilder(twoFeeders, { clock: new ManualClock(T0) });
  t.strictSame(builder.customersBelow(['F1-FU1']), ['C151']);
  t.strictSame(builder.customersBelow(['F1-SW3', 'F1-FU1']), ['C141', 'C142', 'C151']);
  t.strictSame(builder.customersBelow(['F1-SW2', 'F1-SW3']), BELOW_F1_SW2, 'nested devices counted once');
  t.strictSame(builder.customersBelow(['TIE-1']), [], 'a tie supplies nobody in the normal configuration');
  t.strictSame(builder.customersBelow(['F2-CB']), ['C211', 'C212', 'C221', 'C231', 'C232']);
  t.end();
});

t.test('a planned outage 2 days ahead is refused, naming the lead time', (t) => {
  const builder = new NoticeBuilder(twoFeeders, { clock: new ManualClock(T0) });
  const p = plannedAt(T0 + 2 * DAY);
  const expected =
    'planned outage PL-1 starts in 2 days (2024-05-03T08:00:00.000Z); customers must be told at least 7 days ahead, ' +
    'so it cannot start before 2024-05-08T08:00:00.000Z';
  t.throws(() => builder.onPlannedRegistered(p, T0), new NoticeRefused(expected, 'PL-1'));
  try {
    builder.onPlannedRegistered(p, T0);
  } catch (err) {
    t.ok(err instanceof NoticeRefused);
    t.equal((err as NoticeRefused).message, expected);
    t.equal((err as NoticeRefused).plannedId, 'PL-1');
  }
  t.equal(checkPlannedLeadTime(p, T0, 7 * DAY), expected, 'the same text from the check the command handler calls');
  t.equal(checkPlannedLeadTime(plannedAt(T0 + 8 * DAY), T0, 7 * DAY), null);
  t.equal(checkPlannedLeadTime(plannedAt(T0 + 7 * DAY), T0, 7 * DAY), null, 'exactly the lead time is enough');
  t.match(checkPlannedLeadTime(plannedAt(T0 + 7 * DAY - 1), T0, 7 * DAY), /^planned outage PL-1 starts in 6\.9 days /, 'rounded down, never "7 days"');
  t.match(checkPlannedLeadTime(plannedAt(T0 - HOUR), T0, 7 * DAY), /starts at 2024-05-01T07:00:00\.000Z, which is already past/);
  t.match(checkPlannedLeadTime({ ...plannedAt(T0), start: 'soon' }, T0, 7 * DAY), /start "soon" is not a time/);
  t.equal(checkPlannedLeadTime(plannedAt(T0 + 2 * DAY), T0, DAY), null, 'a configured lead time of 1 day');
  const shortLead = new NoticeBuilder(twoFeeders, { clock: new ManualClock(T0), leadTimeMs: 3 * DAY });
  t.throws(() => shortLead.onPlannedRegistered(p, T0), { name: 'NoticeRefused', message: /at least 3 days ahead/ });
  t.throws(() => builder.onPlannedRegistered({ ...plannedAt(T0 + 8 * DAY), devices: ['NOPE'] }, T0), { name: 'NoticeRefused', message: /unknown switch "NOPE"/ });
  t.equal(formatDuration(36 * HOUR), '1.5 days');
  t.equal(formatDuration(HOUR), '1 hour');
  t.equal(formatDuration(90 * S), '1.5 minutes');
  t.end();
});

t.test('the planned outage happening: no fault notice, then restored notices', (t) => {
  const site: SiteConfig = { ...twoFeeders, plannedOutages: [] };
  const builder = new NoticeBuilder(site, { clock: new ManualClock(T0) });
  const start = T0 + 8 * DAY;
  const p = plannedAt(start);
  builder.onPlannedRegistered(p, T0);
  const engine = engineFor(site);
  engine.registerPlannedOutage(p);
  const opened = engine.apply([pos('F1-SW2', 'open', start + MIN)]);
  t.equal((opened[0] as { outage: Outage }).outage.kind, 'planned');
  t.strictSame(builder.onEvents(opened), [], 'already announced');
  const closed = engine.apply([pos('F1-SW2', 'closed', start + 3 * HOUR)]);
  const notices = builder.onEvents(closed);
  t.strictSame(notices.map(brief), [{ type: 'restored', kind: null, customerIds: BELOW_F1_SW2 }]);
  t.match(notices[0], {
    plannedId: 'PL-1',
    cause: { code: 'planned', text: 'planned work: replace pole 12' },
    actualRestoration: '2024-05-09T11:00:00.000Z',
    estimatedRestoration: null,
    partial: false,
  });
  t.strictSame(builder.followedOutages(), []);
  t.end();
});

t.test('a fault outage with self-healing: fault, isolated, partly restored and restored notices', (t) => {
  const clock = new ManualClock(T0);
  const builder = new NoticeBuilder(twoFeeders, { clock });
  const engine = engineFor(twoFeeders, true);
  const outageId = 'test-site-20240501T080000000-F1-CB';

  // Fault in F1-S3: the breaker trips and locks out; all 12 customers of F1 are out.
  const trip = builder.onEvents(engine.apply([flag('F1-CB', T0), flag('F1-R1', T0), flag('F1-SW2', T0), pos('F1-CB', 'open', T0), lockout('F1-CB', T0 + 100)]));
  t.strictSame(trip.map(brief), [
    { type: 'fault', kind: null, customerIds: ['C111', 'C112', 'C121', 'C122', 'C123', 'C131', 'C132', 'C133', 'C134', 'C141', 'C142', 'C151'] },
  ]);
  t.strictSame(trip[0], {
    noticeId: `${outageId}:fault`,
    messageId: `${outageId}:fault:1of1`,
    type: 'fault',
    siteId: 'test-site',
    outageId,
    plannedId: null,
    area: { feeders: [{ id: 'F1', name: null }], transformers: ['T11', 'T12', 'T13A', 'T13B', 'T14', 'T15'], areaClasses: ['urban', 'town', 'rural'] },
    cause: { code: 'protectionTrip', text: 'fault: protection tripped' },
    start: '2024-05-01T08:00:00.000Z',
    // Worst area class: town / rural, 90 min crew arrival + 4 h repair.
    estimatedRestoration: '2024-05-01T13:30:00.000Z',
    actualRestoration: null,
    progress: null,
    partial: null,
    customerCount: 12,
    batchIndex: 0,
    batchCount: 1,
    customerIds: ['C111', 'C112', 'C121', 'C122', 'C123', 'C131', 'C132', 'C133', 'C134', 'C141', 'C142', 'C151'],
    issuedAt: '2024-05-01T08:00:00.000Z',
  });

  // The fault section is isolated by F1-SW2 and F1-SW3.
  clock.set(T0 + 10 * S);
  const isolate = builder.onEvents(engine.apply([pos('F1-SW2', 'open', T0 + 10 * S), pos('F1-SW3', 'open', T0 + 10 * S)]));
  t.strictSame(isolate.map(brief), [
    { type: 'progress', kind: 'isolated', customerIds: ['C111', 'C112', 'C121', 'C122', 'C123', 'C131', 'C132', 'C133', 'C134', 'C141', 'C142', 'C151'] },
  ]);
  t.match(isolate[0], {
    noticeId: `${outageId}:isolated`,
    estimatedRestoration: '2024-05-01T13:30:00.000Z',
    progress: {
      kind: 'isolated',
      text: 'fault in section F1-S3 isolated by opening F1-SW2, F1-SW3',
      at: '2024-05-01T08:00:10.000Z',
      faultSection: 'F1-S3',
      isolatingDevices: ['F1-SW2', 'F1-SW3'],
      restoredCustomerCount: 0,
      stillOutCustomerCount: 12,
    },
    issuedAt: '2024-05-01T08:00:10.000Z',
  });

  // The breaker recloses (F1-S1, F1-S2, F1-S5 back), then TIE-1 back-feeds F1-S4 from F2.
  clock.set(T0 + 30 * S);
  const restore = builder.onEvents(engine.apply([pos('F1-CB', 'closed', T0 + 20 * S), pos('TIE-1', 'closed', T0 + 30 * S)]));
  t.strictSame(restore.map(brief), [
    { type: 'restored', kind: null, customerIds: ['C111', 'C112', 'C121', 'C122', 'C123', 'C151'] },
    { type: 'progress', kind: 'partlyRestored', customerIds: ['C131', 'C132', 'C133', 'C134', 'C141', 'C142'] },
    { type: 'restored', kind: null, customerIds: ['C141', 'C142'] },
    { type: 'progress', kind: 'partlyRestored', customerIds: ['C131', 'C132', 'C133', 'C134'] },
  ]);
  t.match(restore[0], { noticeId: `${outageId}:restored:20240501T080020000`, actualRestoration: '2024-05-01T08:00:20.000Z', partial: true, estimatedRestoration: null });
  t.match(restore[1], {
    noticeId: `${outageId}:partlyRestored:20240501T080020000`,
    estimatedRestoration: '2024-05-01T13:30:00.000Z',
    progress: { text: 'supply restored to 6 of 12 customers; 6 still out', restoredCustomerCount: 6, stillOutCustomerCount: 6 },
  });
  t.match(restore[2], { actualRestoration: '2024-05-01T08:00:30.000Z', partial: true, area: { feeders: [{ id: 'F1' }], transformers: ['T14'] } });
  t.match(restore[3], { progress: { restoredCustomerCount: 8, stillOutCustomerCount: 4 } });

  // The self-healing sequence completes: nothing new for customers.
  t.strictSame(builder.onEvents(engine.tick(T0 + 60 * S)), []);

  // Repair: F1-SW2 closes, the outage is over.
  clock.set(T0 + 45 * MIN);
  const repaired = builder.onEvents(engine.apply([pos('F1-SW2', 'closed', T0 + 45 * MIN)]));
  t.strictSame(repaired.map(brief), [{ type: 'restored', kind: null, customerIds: ['C131', 'C132', 'C133', 'C134'] }]);
  t.match(repaired[0], { noticeId: `${outageId}:restored:20240501T084500000`, actualRestoration: '2024-05-01T08:45:00.000Z', partial: false });
  t.strictSame(builder.followedOutages(), []);

  // Every customer got exactly one fault and one restored notice.
  const all = [...trip, ...isolate, ...restore, ...repaired];
  const of = (type: string): string[] => all.filter((n) => n.type === type).flatMap((n) => n.customerIds).sort();
  t.strictSame(of('fault'), of('restored'));
  t.equal(new Set(all.map((n) => n.noticeId)).size, all.length, 'notice ids are unique');
  t.end();
});

t.test('a fault located after the start: a located progress notice; ETR from the area classes', (t) => {
  const builder = new NoticeBuilder(twoFeeders, { clock: new ManualClock(T0) });
  const engine = engineFor(twoFeeders);
  const f2 = ['C211', 'C212', 'C221', 'C231', 'C232'];
  const opened = builder.onEvents(engine.apply([pos('F2-CB', 'open', T0)]));
  t.strictSame(opened.map(brief), [{ type: 'fault', kind: null, customerIds: f2 }]);
  // F2: urban and city centre, 45 min + 3 h.
  t.match(opened[0], { cause: { code: 'switchOpened' }, estimatedRestoration: '2024-05-01T11:45:00.000Z', area: { areaClasses: ['cityCentre', 'urban'] } });
  const located = builder.onEvents(engine.apply([flag('F2-SW1', T0 + 500)]));
  t.strictSame(located.map(brief), [{ type: 'progress', kind: 'located', customerIds: f2 }]);
  t.match(located[0], {
    noticeId: 'test-site-20240501T080000000-F2-CB:located',
    cause: { code: 'protectionTrip' },
    progress: { kind: 'located', text: 'fault located in section F2-S2', faultSection: 'F2-S2', at: '2024-05-01T08:00:00.500Z' },
  });
  t.strictSame(builder.onEvents(engine.apply([flag('F2-SW1', T0 + 600)])), [], 'told once');
  const back = builder.onEvents(engine.apply([pos('F2-CB', 'closed', T0 + HOUR)]));
  t.strictSame(back.map(brief), [{ type: 'restored', kind: null, customerIds: f2 }]);
  t.end();
});

t.test('configurable ETR', (t) => {
  const builder = new NoticeBuilder(twoFeeders, { clock: new ManualClock(T0), etr: { crewArrivalMs: { rural: 2 * HOUR }, repairMs: { rural: 5 * HOUR } } });
  const engine = engineFor(twoFeeders);
  const [fault] = builder.onEvents(engine.apply([pos('F1-FU1', 'open', T0)]));
  t.match(fault, { customerIds: ['C151'], area: { transformers: ['T15'], areaClasses: ['rural'] }, estimatedRestoration: '2024-05-01T15:00:00.000Z' });
  t.throws(() => new NoticeBuilder(twoFeeders, { clock: new ManualClock(T0), etr: { repairMs: { town: -1 } } }), /etr\.repairMs\.town/);
  t.throws(() => new NoticeBuilder(twoFeeders, { clock: new ManualClock(T0), batchSize: 0 }), /batchSize/);
  t.end();
});

t.test('out and back within one batch: no notice; across batches: fault and restored', (t) => {
  const builder = new NoticeBuilder(twoFeeders, { clock: new ManualClock(T0) });
  const engine = engineFor(twoFeeders);
  const blink = engine.apply([pos('F1-FU1', 'open', T0), pos('F1-FU1', 'closed', T0 + S)]);
  t.strictSame(blink.map((e) => e.type), ['outage.started', 'outage.restored']);
  t.strictSame(builder.onEvents(blink), []);
  t.strictSame(builder.followedOutages(), []);
  const out = builder.onEvents(engine.apply([pos('F1-FU1', 'open', T0 + MIN)]));
  const back = builder.onEvents(engine.apply([pos('F1-FU1', 'closed', T0 + MIN + 2 * S)]));
  t.strictSame([...out, ...back].map(brief), [
    { type: 'fault', kind: null, customerIds: ['C151'] },
    { type: 'restored', kind: null, customerIds: ['C151'] },
  ], 'told of the outage, so told of the end even if it was momentary');
  t.end();
});

t.test('reclose onto the fault: restored customers dark again get a new fault notice', (t) => {
  const builder = new NoticeBuilder(twoFeeders, { clock: new ManualClock(T0) });
  const engine = engineFor(twoFeeders);
  const id = 'test-site-20240501T080000000-F1-R1';
  const started = builder.onEvents(engine.apply([flag('F1-R1', T0), pos('F1-R1', 'open', T0), pos('F1-SW2', 'open', T0 + 5 * S)]));
  t.strictSame(started.map(brief), [{ type: 'fault', kind: null, customerIds: ['C121', 'C122', 'C123', 'C131', 'C132', 'C133', 'C134', 'C141', 'C142', 'C151'] }]);
  const reclose = builder.onEvents(engine.apply([pos('F1-R1', 'closed', T0 + 30 * S)]));
  t.strictSame(reclose.map(brief), [
    { type: 'restored', kind: null, customerIds: ['C121', 'C122', 'C123', 'C151'] },
    { type: 'progress', kind: 'partlyRestored', customerIds: ['C131', 'C132', 'C133', 'C134', 'C141', 'C142'] },
  ]);
  const retrip = builder.onEvents(engine.apply([pos('F1-R1', 'open', T0 + 42 * S)]));
  t.strictSame(retrip.map(brief), [{ type: 'fault', kind: null, customerIds: ['C121', 'C122', 'C123', 'C151'] }]);
  t.equal(retrip[0]!.noticeId, `${id}:fault:20240501T080042000`);
  const end = builder.onEvents(engine.apply([pos('F1-R1', 'closed', T0 + 120 * S), pos('F1-SW2', 'closed', T0 + 120 * S)]));
  t.strictSame(end.map(brief), [
    { type: 'restored', kind: null, customerIds: ['C121', 'C122', 'C123', 'C151'] },
    { type: 'progress', kind: 'partlyRestored', customerIds: ['C131', 'C132', 'C133', 'C134', 'C141', 'C142'] },
    { type: 'restored', kind: null, customerIds: ['C131', 'C132', 'C133', 'C134', 'C141', 'C142'] },
  ]);
  t.equal(end[0]!.noticeId, `${id}:restored:20240501T080200000`);
  t.equal(end[2]!.noticeId, `${id}:restored:20240501T080200000-2`, 'two steps in one millisecond keep distinct ids');
  t.end();
});

t.test('an outage first seen mid-way (after a restart) is picked up', (t) => {
  const engine = engineFor(twoFeeders);
  const first = new NoticeBuilder(twoFeeders, { clock: new ManualClock(T0) });
  first.onEvents(engine.apply([pos('F1-CB', 'open', T0)]));
  const restarted = new NoticeBuilder(twoFeeders, { clock: new ManualClock(T0) });
  const partly = restarted.onEvents(engine.apply([pos('F1-R1', 'open', T0 + 10 * S), pos('F1-CB', 'closed', T0 + 20 * S)]));
  t.strictSame(partly.map(brief), [
    { type: 'restored', kind: null, customerIds: ['C111', 'C112'] },
    { type: 'progress', kind: 'partlyRestored', customerIds: ['C121', 'C122', 'C123', 'C131', 'C132', 'C133', 'C134', 'C141', 'C142', 'C151'] },
  ]);
  const done = restarted.onEvents(engine.apply([pos('F1-R1', 'closed', T0 + 30 * S)]));
  t.strictSame(done.map(brief), [{ type: 'restored', kind: null, customerIds: ['C121', 'C122', 'C123', 'C131', 'C132', 'C133', 'C134', 'C141', 'C142', 'C151'] }]);
  t.end();
});

t.test('1,203 customers: 3 messages of 500, 500 and 203', (t) => {
  const customers = Array.from({ length: 1203 }, (_, i) => `M${String(i + 1).padStart(5, '0')}`);
  const site: SiteConfig = {
    ...twoFeeders,
    siteId: 'big',
    feeders: [
      {
        id: 'B1',
        name: 'Big feeder',
        breaker: 'B1-CB',
        switches: [{ id: 'B1-CB', kind: 'breaker', to: 'B1-S1', normal: 'closed' }],
        sections: [{ id: 'B1-S1' }],
        transformers: [
          { id: 'TA', section: 'B1-S1', areaClass: 'urban', customers: customers.slice(0, 700) },
          { id: 'TB', section: 'B1-S1', areaClass: 'urban', customers: customers.slice(700) },
        ],
      },
    ],
  };
  const builder = new NoticeBuilder(site, { clock: new ManualClock(T0) });
  const engine = engineFor(site);
  const notices = builder.onEvents(engine.apply([pos('B1-CB', 'open', T0)]));
  t.strictSame(notices.map((n) => [n.type, n.batchIndex, n.batchCount, n.customerIds.length, n.customerCount]), [
    ['fault', 0, 3, 500, 1203],
    ['fault', 1, 3, 500, 1203],
    ['fault', 2, 3, 203, 1203],
  ]);
  t.equal(new Set(notices.map((n) => n.noticeId)).size, 1, 'one notice');
  t.strictSame(notices.map((n) => n.messageId), [1, 2, 3].map((i) => `big-20240501T080000000-B1-CB:fault:${i}of3`));
  t.strictSame(notices.flatMap((n) => n.customerIds), customers, 'every customer once, in order');
  t.strictSame(notices[0]!.area, { feeders: [{ id: 'B1', name: 'Big feeder' }], transformers: ['TA', 'TB'], areaClasses: ['urban'] }, 'the area of the whole notice in every batch');
  t.equal(notices[0]!.customerIds[0], 'M00001');
  t.equal(notices[2]!.customerIds.at(-1), 'M01203');

  const small = new NoticeBuilder(site, { clock: new ManualClock(T0), batchSize: 1000 });
  t.strictSame(small.onPlannedRegistered({ id: 'P', devices: ['B1-CB'], start: iso(T0 + 8 * DAY), end: iso(T0 + 9 * DAY) }, T0).map((n) => n.customerIds.length), [1000, 203]);
  t.end();
});

t.test('events that concern no customer give nothing', (t) => {
  const builder = new NoticeBuilder(twoFeeders, { clock: new ManualClock(T0) });
  const availability: DomainEvent = {
    id: 'test-site:1',
    seq: 1,
    siteId: 'test-site',
    ts: iso(T0),
    type: 'device.availability',
    deviceId: 'ftu-1',
    state: 'offline',
    previousState: 'online',
    lastGoodAt: null,
    consecutiveErrors: 3,
    error: 'timeout',
  };
  t.strictSame(builder.onEvents([availability]), []);
  t.end();
});
