/**
 * Reliability indices (IEEE 1366-2012; DL/T 836.1-2016) over a period [from, to), per area class and per site,
 * for one counting basis. Pure: the period and the reference time are always given.
 *
 * With NT the units served (customers or public transformers, see interruption-log.ts), over the SUSTAINED
 * interruptions (duration > the momentary threshold) that START in the period (IEEE 1366 assigns an
 * interruption to the day it begins; its whole duration counts):
 * - SAIFI = interruptions / NT
 * - SAIDI = sum of durations [h] / NT           (DL/T 836.1 AIHC-1 on the transformer basis)
 * - CAIDI = SAIDI / SAIFI [h]                   (null without interruptions)
 * - CAIFI = interruptions / distinct units interrupted   (null without interruptions)
 * - ASAI  = 1 - SAIDI / period hours            (the period's own hours: 8760 for a plain year)
 * - RS-1  = ASAI * 100 [%]                      (DL/T 836.1)
 * - MAIFIe = momentary interruption EVENTS / NT: for one unit, the momentary interruptions starting within
 *   one momentary window (threshold length, from the first one's start) are one event; an event is not
 *   counted when a sustained interruption of that unit starts within the same window (the reclosing
 *   sequence ended in a lockout: IEEE 1366 counts only the sustained interruption).
 * planned / fault: SAIFI and SAIDI of the planned (pre-arranged) and the fault interruptions; they add up.
 */
import type { AreaClass, SiteConfig } from '../config/site-config.js';
import { AREA_CLASSES } from '../config/site-config.js';
import { isMomentary, type CountingBasis, type Interruption } from './interruption-log.js';

export interface Period {
  fromMs: number;
  toMs: number;
}

export interface SplitIndices {
  interruptions: number;
  saifi: number;
  saidiH: number;
}

export interface IndexSet {
  /** NT: units served (customers or transformers). */
  units: number;
  /** Sustained interruptions starting in the period. */
  interruptions: number;
  /** Distinct units with at least one sustained interruption. */
  unitsInterrupted: number;
  /** Sum of sustained interruption durations, unit-hours. */
  unitHours: number;
  saifi: number;
  saidiH: number;
  caidiH: number | null;
  caifi: number | null;
  asai: number;
  rs1Pct: number;
  /** Momentary (short) interruptions and the events they make up. */
  momentaryInterruptions: number;
  momentaryEvents: number;
  maifie: number;
  planned: SplitIndices;
  fault: SplitIndices;
}

export interface IndicesResult {
  basis: CountingBasis;
  momentaryThresholdMs: number;
  fromMs: number;
  toMs: number;
  periodHours: number;
  site: IndexSet;
  areaClasses: Record<AreaClass, IndexSet>;
  /** Interrupted units the site config does not know (removed since): left out of every index. */
  unknownUnits: string[];
}

/** Which area class each unit of each basis belongs to, from the site's transformers. */
export interface SiteUnits {
  transformer: Map<string, AreaClass>;
  meter: Map<string, AreaClass>;
}

export function siteUnits(site: Pick<SiteConfig, 'feeders'>): SiteUnits {
  const units: SiteUnits = { transformer: new Map(), meter: new Map() };
  for (const feeder of site.feeders) {
    for (const t of feeder.transformers) {
      units.transformer.set(t.id, t.areaClass);
      for (const c of t.customers) units.meter.set(c, t.areaClass);
    }
  }
  return units;
}

const HOUR_MS = 3_600_000;

interface Accumulator {
  units: number;
  interruptions: number;
  interrupted: Set<string>;
  ms: number;
  momentary: number;
  events: number;
  plannedCount: number;
  plannedMs: number;
}

function accumulator(): Accumulator {
  return { units: 0, interruptions: 0, interrupted: new Set(), ms: 0, momentary: 0, events: 0, plannedCount: 0, plannedMs: 0 };
}

function finish(a: Accumulator, periodHours: number): IndexSet {
  const nt = a.units;
  const per = (x: number): number => (nt === 0 ? 0 : x / nt);
  const saifi = per(a.interruptions);
  const saidiH = per(a.ms / HOUR_MS);
  const asai = periodHours > 0 ? 1 - saidiH / periodHours : 1;
  return {
    units: nt,
    interruptions: a.interruptions,
    unitsInterrupted: a.interrupted.size,
    unitHours: a.ms / HOUR_MS,
    saifi,
    saidiH,
    caidiH: a.interruptions === 0 ? null : a.ms / HOUR_MS / a.interruptions,
    caifi: a.interrupted.size === 0 ? null : a.interruptions / a.interrupted.size,
    asai,
    rs1Pct: asai * 100,
    momentaryInterruptions: a.momentary,
    momentaryEvents: a.events,
    maifie: per(a.events),
    planned: { interruptions: a.plannedCount, saifi: per(a.plannedCount), saidiH: per(a.plannedMs / HOUR_MS) },
    fault: {
      interruptions: a.interruptions - a.plannedCount,
      saifi: per(a.interruptions - a.plannedCount),
      saidiH: per((a.ms - a.plannedMs) / HOUR_MS),
    },
  };
}

/**
 * Momentary events of one unit (its interruptions sorted by start) whose first interruption starts in
 * the period, per the MAIFIe rule above.
 */
function momentaryEvents(list: readonly Interruption[], thresholdMs: number, period: Period): number {
  let events = 0;
  let i = 0;
  while (i < list.length) {
    const first = list[i]!;
    if (!isMomentary(first, thresholdMs)) {
      i++;
      continue;
    }
    const windowEnd = first.startMs + thresholdMs;
    let j = i + 1;
    let endedSustained = false;
    while (j < list.length && list[j]!.startMs <= windowEnd) {
      if (!isMomentary(list[j]!, thresholdMs)) {
        endedSustained = true;
        break;
      }
      j++;
    }
    if (!endedSustained && first.startMs >= period.fromMs && first.startMs < period.toMs) events++;
    i = j;
  }
  return events;
}

/**
 * The indices of `interruptions` (ONE basis, from `interruptionsOf`, ideally the whole history so that
 * momentary windows crossing the period start are seen) for `period`.
 */
export function computeIndices(
  interruptions: readonly Interruption[],
  units: SiteUnits,
  basis: CountingBasis,
  period: Period,
  momentaryThresholdMs: number,
): IndicesResult {
  if (!(period.toMs >= period.fromMs)) throw new RangeError(`period ends before it starts: from ${new Date(period.fromMs).toISOString()} to ${new Date(period.toMs).toISOString()}`);
  const classOf = units[basis];
  const site = accumulator();
  const byClass = Object.fromEntries(AREA_CLASSES.map((c) => [c, accumulator()])) as Record<AreaClass, Accumulator>;
  for (const areaClass of classOf.values()) {
    site.units++;
    byClass[areaClass].units++;
  }

  const byUnit = new Map<string, Interruption[]>();
  const unknown = new Set<string>();
  for (const it of interruptions) {
    if (!classOf.has(it.unit)) {
      unknown.add(it.unit);
      continue;
    }
    const list = byUnit.get(it.unit);
    if (list) list.push(it);
    else byUnit.set(it.unit, [it]);
  }

  for (const [unit, list] of byUnit) {
    list.sort((a, b) => a.startMs - b.startMs);
    const targets = [site, byClass[classOf.get(unit)!]];
    const events = momentaryEvents(list, momentaryThresholdMs, period);
    for (const it of list) {
      if (it.startMs < period.fromMs || it.startMs >= period.toMs) continue;
      const momentary = isMomentary(it, momentaryThresholdMs);
      for (const acc of targets) {
        if (momentary) {
          acc.momentary++;
          continue;
        }
        acc.interruptions++;
        acc.interrupted.add(unit);
        acc.ms += it.durationMs;
        if (it.planned) {
          acc.plannedCount++;
          acc.plannedMs += it.durationMs;
        }
      }
    }
    for (const acc of targets) acc.events += events;
  }

  const periodHours = (period.toMs - period.fromMs) / HOUR_MS;
  return {
    basis,
    momentaryThresholdMs,
    fromMs: period.fromMs,
    toMs: period.toMs,
    periodHours,
    site: finish(site, periodHours),
    areaClasses: Object.fromEntries(AREA_CLASSES.map((c) => [c, finish(byClass[c], periodHours)])) as Record<AreaClass, IndexSet>,
    unknownUnits: [...unknown].sort(),
  };
}

/**
 * Year to date: from 1 January 00:00 of `nowMs`'s year, in local time at `utcOffsetMinutes` (China: +480),
 * to `nowMs`.
 */
export function yearToDate(nowMs: number, utcOffsetMinutes = 0): Period {
  const offsetMs = utcOffsetMinutes * 60_000;
  const year = new Date(nowMs + offsetMs).getUTCFullYear();
  return { fromMs: Date.UTC(year, 0, 1) - offsetMs, toMs: nowMs };
}

/** Rolling 12 months: from the same instant one calendar year before `nowMs` (29 Feb: 1 Mar) to `nowMs`. */
export function rolling12Months(nowMs: number): Period {
  const d = new Date(nowMs);
  d.setUTCFullYear(d.getUTCFullYear() - 1);
  return { fromMs: d.getTime(), toMs: nowMs };
}
