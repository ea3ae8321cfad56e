/**
 * The reliability report: what the gateway publishes retained on `<root>/reliability` and writes to
 * InfluxDB (measurement `reliability`). Built from the finished outages, for year to date and the rolling
 * 12 months before `nowMs`, on BOTH counting bases. Pure: `nowMs` is given (use the time of the latest
 * restoration, or the clock of the caller).
 *
 * Payload fields (docs/reliability.md has the full table):
 * - `siteId`, `generatedAt` (ISO, = nowMs), `momentaryThresholdMs`, `standard` (which threshold it is);
 * - `periods.yearToDate` / `periods.rolling12Months`: `{ from, to, periodHours, bases: { transformer, meter } }`,
 *   each basis `{ site: IndexSet, areaClasses: { cityCentre, urban, town, rural: IndexSet } }`;
 * - `targets`: the year-to-date SAIDI per area class (transformer basis, the DL/T 836.1 AIHC-1) against the
 *   action plan, or null when no entry applies.
 */
import type { AreaClass } from '../config/site-config.js';
import { AREA_CLASSES } from '../config/site-config.js';
import type { Outage } from '../engine/events.js';
import { computeIndices, rolling12Months, yearToDate, type IndexSet, type Period, type SiteUnits } from './indices.js';
import { COUNTING_BASES, DLT_836_MOMENTARY_MS, IEEE_1366_MOMENTARY_MS, interruptionsOf, type CountingBasis, type Interruption } from './interruption-log.js';
import { compareWithTargets, type ReliabilityTargets, type TargetSelection, type TargetsResult } from './targets.js';

export interface BasisReport {
  site: IndexSet;
  areaClasses: Record<AreaClass, IndexSet>;
}

export interface PeriodReport {
  from: string;
  to: string;
  periodHours: number;
  bases: Record<CountingBasis, BasisReport>;
}

export type ReportPeriodName = 'yearToDate' | 'rolling12Months';

export interface ReliabilityReport {
  siteId: string;
  generatedAt: string;
  momentaryThresholdMs: number;
  standard: 'DL/T 836' | 'IEEE 1366' | 'custom';
  periods: Record<ReportPeriodName, PeriodReport>;
  targets: TargetsResult | null;
}

export interface ReportInput {
  siteId: string;
  /** The finished outages of the history (restored and merged), all of them: merges resolve across it. */
  outages: Iterable<Outage>;
  units: SiteUnits;
  nowMs: number;
  momentaryThresholdMs: number;
  /** For the year-to-date start (China: 480). */
  utcOffsetMinutes?: number;
  targets?: { file: ReliabilityTargets; selection: TargetSelection; previousYearSaidiH?: Partial<Record<AreaClass, number>> };
}

export function standardOf(momentaryThresholdMs: number): ReliabilityReport['standard'] {
  return momentaryThresholdMs === DLT_836_MOMENTARY_MS ? 'DL/T 836' : momentaryThresholdMs === IEEE_1366_MOMENTARY_MS ? 'IEEE 1366' : 'custom';
}

/** The indices of one period on both bases, from interruptions already derived per basis. */
export function periodReport(interruptions: Record<CountingBasis, Interruption[]>, units: SiteUnits, period: Period, momentaryThresholdMs: number): PeriodReport {
  const bases = {} as Record<CountingBasis, BasisReport>;
  let periodHours = 0;
  for (const basis of COUNTING_BASES) {
    const r = computeIndices(interruptions[basis], units, basis, period, momentaryThresholdMs);
    periodHours = r.periodHours;
    bases[basis] = { site: r.site, areaClasses: r.areaClasses };
  }
  return { from: new Date(period.fromMs).toISOString(), to: new Date(period.toMs).toISOString(), periodHours, bases };
}

export function buildReliabilityReport(input: ReportInput): ReliabilityReport {
  const outages = [...input.outages];
  const interruptions = {
    transformer: interruptionsOf(outages, 'transformer'),
    meter: interruptionsOf(outages, 'meter'),
  };
  const ytd = periodReport(interruptions, input.units, yearToDate(input.nowMs, input.utcOffsetMinutes ?? 0), input.momentaryThresholdMs);
  const r12 = periodReport(interruptions, input.units, rolling12Months(input.nowMs), input.momentaryThresholdMs);
  let targets: TargetsResult | null = null;
  if (input.targets !== undefined) {
    const saidi = Object.fromEntries(AREA_CLASSES.map((c) => [c, ytd.bases.transformer.areaClasses[c].saidiH])) as Record<AreaClass, number>;
    targets = compareWithTargets(saidi, input.targets.file, input.targets.selection, input.targets.previousYearSaidiH);
  }
  return {
    siteId: input.siteId,
    generatedAt: new Date(input.nowMs).toISOString(),
    momentaryThresholdMs: input.momentaryThresholdMs,
    standard: standardOf(input.momentaryThresholdMs),
    periods: { yearToDate: ytd, rolling12Months: r12 },
    targets,
  };
}

/** An InfluxDB point, shaped like the `influx` package's IPoint (no dependency on it here). */
export interface ReliabilityPoint {
  measurement: 'reliability';
  tags: { period: ReportPeriodName; basis: CountingBasis; scope: 'site' | AreaClass };
  fields: Record<string, number | boolean>;
  timestamp: Date;
}

/**
 * One point per period x basis x scope (site and each area class): 2 x 2 x 5 = 20 points, tags of bounded
 * cardinality. Null indices (CAIDI, CAIFI without interruptions) are left out of the fields. The target
 * fields (`targetH`, `targetMet`) are on the year-to-date transformer-basis area-class points.
 */
export function reliabilityPoints(report: ReliabilityReport): ReliabilityPoint[] {
  const points: ReliabilityPoint[] = [];
  const timestamp = new Date(report.generatedAt);
  for (const period of ['yearToDate', 'rolling12Months'] as const) {
    const p = report.periods[period];
    for (const basis of COUNTING_BASES) {
      const b = p.bases[basis];
      const scopes: Array<['site' | AreaClass, IndexSet]> = [['site', b.site], ...AREA_CLASSES.map((c): [AreaClass, IndexSet] => [c, b.areaClasses[c]])];
      for (const [scope, s] of scopes) {
        const fields: Record<string, number | boolean> = {
          units: s.units,
          interruptions: s.interruptions,
          units_interrupted: s.unitsInterrupted,
          unit_hours: s.unitHours,
          saifi: s.saifi,
          saidi_h: s.saidiH,
          asai: s.asai,
          rs1_pct: s.rs1Pct,
          momentary_interruptions: s.momentaryInterruptions,
          momentary_events: s.momentaryEvents,
          maifie: s.maifie,
          planned_saifi: s.planned.saifi,
          planned_saidi_h: s.planned.saidiH,
          fault_saifi: s.fault.saifi,
          fault_saidi_h: s.fault.saidiH,
          period_hours: p.periodHours,
          momentary_threshold_ms: report.momentaryThresholdMs,
        };
        if (s.caidiH !== null) fields.caidi_h = s.caidiH;
        if (s.caifi !== null) fields.caifi = s.caifi;
        const target = period === 'yearToDate' && basis === 'transformer' && scope !== 'site' ? report.targets?.areaClasses.find((c) => c.areaClass === scope) : undefined;
        if (target !== undefined) {
          fields.target_h = target.targetH;
          fields.target_met = target.met;
        }
        points.push({ measurement: 'reliability', tags: { period, basis, scope }, fields, timestamp });
      }
    }
  }
  return points;
}
