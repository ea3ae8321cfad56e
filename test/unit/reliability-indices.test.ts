/**
 * Reliability indices over the scripted test year (test/fixtures/reliability-year.ts), computed BY HAND.
 *
 * Per-unit sustained interruptions in 2023 (minutes). DL/T 836.1 (momentary <= 3 min): O4 (4 min) is SUSTAINED.
 *   TC1 / A1 A2        O1 60, O4 4, O9 60 (merged TC1 outage from 09:00 + breaker outage to 10:00)     = 3, 124
 *   TU1 TU2 / U1-U4    O1 60, O4 4, O7b 45, O9 59                                                      = 4, 168
 *                      U1 also O5 120 (meter outage: no transformer interrupted)                       = 5, 288
 *   TT1 / W1 W2        O1 180 (second restoration step), O4 4, O7b 45, O9 59                           = 4, 288
 *   TR1 / R1 R2        O1 180, O2 240 planned, O4 4, O7b 45, O9 59                                     = 5, 528
 *   TR2 / R3 R4        as TR1 + O6 90                                                                  = 6, 618
 *   O10 (starts 2022), O11 (2024) and O12 (active) are not counted.
 * Momentary events (window 3 min): O3 for every unit below F1-R1; O7a is followed by O7b within the window:
 *   not counted; O8a + O8b (1 min apart) are ONE event for TT1 / W1 W2. TC1 / A*: none.
 * IEEE 1366 (momentary <= 5 min): O4 becomes momentary for every unit: one more event each, and 4 minutes and
 *   one interruption less per unit.
 *
 * Transformer basis, DL/T 836 (NT: cc 1, urban 2, town 1, rural 2, site 6), period 8760 h:
 *   cc     3 int, 124 min       SAIFI 3       SAIDI 124/60 = 2.0667 h  CAIDI 2.0667/3 = 0.6889  CAIFI 3     MAIFIe 0
 *   urban  8 int, 336 min       SAIFI 8/2=4   SAIDI 5.6/2 = 2.8        CAIDI 5.6/8 = 0.7        CAIFI 4     MAIFIe 2/2 = 1
 *   town   4 int, 288 min       SAIFI 4       SAIDI 4.8                CAIDI 1.2                CAIFI 4     MAIFIe 2 (O3, O8)
 *   rural  11 int, 1146 min     SAIFI 5.5     SAIDI 19.1/2 = 9.55      CAIDI 19.1/11 = 1.7364   CAIFI 5.5   MAIFIe 1
 *          planned: 2 int, 480 min: SAIFI 1, SAIDI 4; fault SAIDI 5.55
 *   site   26 int, 1894 min     SAIFI 26/6 = 4.3333  SAIDI 31.5667/6 = 5.2611  CAIDI 31.5667/26 = 1.2141
 *          CAIFI 26/6 = 4.3333  MAIFIe 6/6 = 1  ASAI 1 - 5.2611/8760 = 0.999399 (RS-1 99.9399 %)
 * Meter basis, DL/T 836 (NT: cc 2, urban 4, town 2, rural 4, site 12):
 *   cc     6, 248 min    SAIFI 3      SAIDI 2.0667  CAIDI 0.6889  MAIFIe 0
 *   urban  17, 792 min   SAIFI 4.25   SAIDI 13.2/4 = 3.3  CAIDI 13.2/17 = 0.7765  CAIFI 4.25  MAIFIe 1
 *   town   8, 576 min    SAIFI 4      SAIDI 4.8     CAIDI 1.2     MAIFIe 2
 *   rural  22, 2292 min  SAIFI 5.5    SAIDI 9.55    CAIDI 1.7364  MAIFIe 1
 *   site   53, 3908 min  SAIFI 53/12 = 4.4167  SAIDI 65.1333/12 = 5.4278  CAIDI 65.1333/53 = 1.2289  MAIFIe 12/12 = 1
 *          ASAI 1 - 5.4278/8760 = 0.999380
 * Transformer basis, IEEE 1366:
 *   cc     2, 120 min   SAIFI 2    SAIDI 2       CAIDI 1       MAIFIe 1 (O4)
 *   urban  6, 328 min   SAIFI 3    SAIDI 2.7333  CAIDI 0.9111  MAIFIe 2 (O3, O4)
 *   town   3, 284 min   SAIFI 3    SAIDI 4.7333  CAIDI 1.5778  MAIFIe 3 (O3, O4, O8)
 *   rural  9, 1138 min  SAIFI 4.5  SAIDI 9.4833  CAIDI 2.1074  MAIFIe 2
 *   site   20, 1870 min SAIFI 3.3333  SAIDI 5.1944  CAIDI 1.5583  MAIFIe 12/6 = 2  ASAI 0.999407
 * Meter basis, IEEE 1366:
 *   cc     4, 240 min   SAIFI 2     SAIDI 2       CAIDI 1       MAIFIe 1
 *   urban  13, 776 min  SAIFI 3.25  SAIDI 3.2333  CAIDI 0.9949  MAIFIe 2
 *   town   6, 568 min   SAIFI 3     SAIDI 4.7333  CAIDI 1.5778  MAIFIe 3
 *   rural  18, 2276 min SAIFI 4.5   SAIDI 9.4833  CAIDI 2.1074  MAIFIe 2
 *   site   41, 3860 min SAIFI 3.4167  SAIDI 5.3611  CAIDI 1.5691  MAIFIe 24/12 = 2  ASAI 0.999388
 */
import t, { type Test } from 'tap';
import { AREA_CLASSES } from '../../gateway/config/site-config.js';
import { computeIndices, rolling12Months, siteUnits, yearToDate, type IndexSet } from '../../gateway/reliability/indices.js';
import { DLT_836_MOMENTARY_MS, IEEE_1366_MOMENTARY_MS, interruptionsOf, type CountingBasis } from '../../gateway/reliability/interruption-log.js';
import { reliabilitySite, testYear, YEAR_2023 } from '../fixtures/reliability-year.js';

const units = siteUnits(reliabilitySite);

type Row = [saifi: number, saidiH: number, caidiH: number, caifi: number, maifie: number, interruptions: number];
type Expected = Record<'cityCentre' | 'urban' | 'town' | 'rural' | 'site', Row>;

const EXPECTED: Record<'DL/T 836' | 'IEEE 1366', Record<CountingBasis, Expected>> = {
  'DL/T 836': {
    transformer: {
      cityCentre: [3, 2.0667, 0.6889, 3, 0, 3],
      urban: [4, 2.8, 0.7, 4, 1, 8],
      town: [4, 4.8, 1.2, 4, 2, 4],
      rural: [5.5, 9.55, 1.7364, 5.5, 1, 11],
      site: [4.3333, 5.2611, 1.2141, 4.3333, 1, 26],
    },
    meter: {
      cityCentre: [3, 2.0667, 0.6889, 3, 0, 6],
      urban: [4.25, 3.3, 0.7765, 4.25, 1, 17],
      town: [4, 4.8, 1.2, 4, 2, 8],
      rural: [5.5, 9.55, 1.7364, 5.5, 1, 22],
      site: [4.4167, 5.4278, 1.2289, 4.4167, 1, 53],
    },
  },
  'IEEE 1366': {
    transformer: {
      cityCentre: [2, 2, 1, 2, 1, 2],
      urban: [3, 2.7333, 0.9111, 3, 2, 6],
      town: [3, 4.7333, 1.5778, 3, 3, 3],
      rural: [4.5, 9.4833, 2.1074, 4.5, 2, 9],
      site: [3.3333, 5.1944, 1.5583, 3.3333, 2, 20],
    },
    meter: {
      cityCentre: [2, 2, 1, 2, 1, 4],
      urban: [3.25, 3.2333, 0.9949, 3.25, 2, 13],
      town: [3, 4.7333, 1.5778, 3, 3, 6],
      rural: [4.5, 9.4833, 2.1074, 4.5, 2, 18],
      site: [3.4167, 5.3611, 1.5691, 3.4167, 2, 41],
    },
  },
};

const ASAI: Record<'DL/T 836' | 'IEEE 1366', Record<CountingBasis, number>> = {
  'DL/T 836': { transformer: 0.999399, meter: 0.99938 },
  'IEEE 1366': { transformer: 0.999407, meter: 0.999388 },
};

function near(t: Test, actual: number | null, expected: number, what: string, decimals = 4): void {
  t.ok(actual !== null && Math.abs(actual - expected) < 0.5 * 10 ** -decimals, `${what}: ${actual} ~ ${expected}`);
}

function checkRow(t: Test, s: IndexSet, row: Row, what: string): void {
  const [saifi, saidiH, caidiH, caifi, maifie, interruptions] = row;
  t.equal(s.interruptions, interruptions, `${what} interruptions`);
  near(t, s.saifi, saifi, `${what} SAIFI`);
  near(t, s.saidiH, saidiH, `${what} SAIDI`);
  near(t, s.caidiH, caidiH, `${what} CAIDI`);
  near(t, s.caifi, caifi, `${what} CAIFI`);
  near(t, s.maifie, maifie, `${what} MAIFIe`);
  near(t, s.rs1Pct, s.asai * 100, `${what} RS-1 = ASAI x 100`, 9);
}

for (const [standard, thresholdMs] of [['DL/T 836', DLT_836_MOMENTARY_MS], ['IEEE 1366', IEEE_1366_MOMENTARY_MS]] as const) {
  for (const basis of ['transformer', 'meter'] as const) {
    t.test(`test year 2023, ${standard}, ${basis} basis: hand-computed indices`, async (t) => {
      const r = computeIndices(interruptionsOf(testYear, basis), units, basis, YEAR_2023, thresholdMs);
      t.equal(r.periodHours, 8760);
      const expected = EXPECTED[standard][basis];
      for (const c of AREA_CLASSES) checkRow(t, r.areaClasses[c], expected[c], c);
      checkRow(t, r.site, expected.site, 'site');
      near(t, r.site.asai, ASAI[standard][basis], 'site ASAI', 6);
      t.same(r.unknownUnits, []);
    });
  }
}

t.test('the 3 and 5 min thresholds differ exactly by the 4-min outage O4', async (t) => {
  const dlt = computeIndices(interruptionsOf(testYear, 'transformer'), units, 'transformer', YEAR_2023, DLT_836_MOMENTARY_MS);
  const ieee = computeIndices(interruptionsOf(testYear, 'transformer'), units, 'transformer', YEAR_2023, IEEE_1366_MOMENTARY_MS);
  // O4 interrupts all 6 transformers for 4 min: 6 interruptions, 24 unit-minutes, 6 momentary events.
  t.equal(dlt.site.interruptions - ieee.site.interruptions, 6);
  near(t, (dlt.site.unitHours - ieee.site.unitHours) * 60, 24, 'unit-minutes');
  t.equal(ieee.site.momentaryEvents - dlt.site.momentaryEvents, 6);
});

t.test('planned and fault split (rural, both bases, DL/T 836)', async (t) => {
  for (const basis of ['transformer', 'meter'] as const) {
    const r = computeIndices(interruptionsOf(testYear, basis), units, basis, YEAR_2023, DLT_836_MOMENTARY_MS);
    const rural = r.areaClasses.rural;
    // O2 (planned, 240 min) on both rural transformers / all four rural customers.
    near(t, rural.planned.saifi, 1, `${basis} planned SAIFI`);
    near(t, rural.planned.saidiH, 4, `${basis} planned SAIDI`);
    near(t, rural.fault.saifi, 4.5, `${basis} fault SAIFI`);
    near(t, rural.fault.saidiH, 5.55, `${basis} fault SAIDI`);
    // site: planned 480 unit-min over 6 transformers = 1.3333 h; over 12 customers 960 min = 1.3333 h.
    near(t, r.site.planned.saidiH, 1.3333, `${basis} site planned SAIDI`);
    near(t, r.site.planned.saidiH + r.site.fault.saidiH, r.site.saidiH, `${basis} planned + fault = total`, 9);
  }
});

t.test('interruption log: step restoration, merge, meter outage, active outage', async (t) => {
  const meter = interruptionsOf(testYear, 'meter');
  const o1 = meter.filter((i) => i.outageId === 'O1');
  t.equal(o1.length, 12, 'O1 interrupts every customer once');
  t.same(o1.find((i) => i.unit === 'A1')?.durationMs, 60 * 60_000, 'A1 back in the first step');
  t.same(o1.find((i) => i.unit === 'R4')?.durationMs, 180 * 60_000, 'R4 back in the second step');
  t.same(meter.filter((i) => i.outageId === 'O9a'), [], 'a merged outage is not counted on its own');
  const a1 = meter.find((i) => i.outageId === 'O9b' && i.unit === 'A1')!;
  t.equal(a1.startMs, Date.parse('2023-09-09T09:00:00.000Z'), 'A1 interrupted from the start of the merged outage');
  t.equal(a1.durationMs, 60 * 60_000);
  t.equal(meter.find((i) => i.outageId === 'O9b' && i.unit === 'U2')!.durationMs, 59 * 60_000);
  t.same(meter.filter((i) => i.outageId === 'O12'), [], 'active outage skipped');
  const transformer = interruptionsOf(testYear, 'transformer');
  t.same(transformer.filter((i) => i.outageId === 'O5'), [], 'a single-customer meter outage interrupts no transformer');
  t.same(transformer.filter((i) => i.outageId === 'O6').map((i) => i.unit), ['TR2']);
});

t.test('a merged outage whose target is not in the history counts on its own', async (t) => {
  const alone = interruptionsOf(testYear.filter((o) => o.id === 'O9a'), 'transformer');
  t.same(alone.map((i) => [i.unit, i.durationMs]), [['TC1', 60_000]]);
});

t.test('periods: year to date, rolling 12 months, partial periods', async (t) => {
  const now = Date.parse('2023-07-01T00:00:00.000Z');
  t.same(yearToDate(now), { fromMs: Date.parse('2023-01-01T00:00:00.000Z'), toMs: now });
  t.same(yearToDate(Date.parse('2023-12-31T20:00:00.000Z'), 480).fromMs, Date.parse('2023-12-31T16:00:00.000Z'), 'China: the year starts at 16:00 UTC');
  t.same(rolling12Months(now), { fromMs: Date.parse('2022-07-01T00:00:00.000Z'), toMs: now });
  // H1 2023 (181 days = 4344 h), transformer basis, DL/T 836: O1-O6 only.
  // TR2: O1 180 + O2 240 + O4 4 + O6 90 = 514; TR1: 424; TT1: 184; TU1, TU2: 64; TC1: 64 -> 1314 min / 6 = 3.65 h.
  const h1 = computeIndices(interruptionsOf(testYear, 'transformer'), units, 'transformer', yearToDate(now), DLT_836_MOMENTARY_MS);
  t.equal(h1.periodHours, 4344);
  near(t, h1.site.saidiH, 3.65, 'H1 site SAIDI');
  near(t, h1.site.saifi, 2.5, 'H1 site SAIFI (TC1 2 + TU1 2 + TU2 2 + TT1 2 + TR1 3 + TR2 4 = 15; 15/6)');
  near(t, h1.site.asai, 1 - 3.65 / 4344, 'H1 ASAI uses the period hours', 9);
  // Rolling 12 months to 2024-01-01T01:00: from 2023-01-01T01:00: O10 (2022-12-31) out, O11 (2024-01-01 00:30) in.
  const r12 = computeIndices(interruptionsOf(testYear, 'transformer'), units, 'transformer', rolling12Months(Date.parse('2024-01-01T01:00:00.000Z')), DLT_836_MOMENTARY_MS);
  t.equal(r12.site.interruptions, 26 + 6);
  t.throws(() => computeIndices([], units, 'meter', { fromMs: 2, toMs: 1 }, DLT_836_MOMENTARY_MS), RangeError);
  t.equal(computeIndices([], units, 'meter', { fromMs: 1, toMs: 1 }, DLT_836_MOMENTARY_MS).site.asai, 1, 'an empty period (1 January 00:00) gives zeros');
});

t.test('a unit the site does not know is left out and listed', async (t) => {
  const r = computeIndices([{ outageId: 'x', unit: 'GONE', startMs: YEAR_2023.fromMs, endMs: YEAR_2023.fromMs + 3_600_000, durationMs: 3_600_000, planned: false }], units, 'meter', YEAR_2023, DLT_836_MOMENTARY_MS);
  t.same(r.unknownUnits, ['GONE']);
  t.equal(r.site.interruptions, 0);
  t.equal(r.site.caidiH, null, 'CAIDI undefined without interruptions');
  t.equal(r.site.asai, 1);
});
